import Actions
import Core
import Foundation
import Testing

@Suite("Item titles and descriptions")
struct ItemComposerTests {
    let facts = Facts(
        intakeID: "in_42", organization: "demo", source: "contact-form", sourceKind: .webhook, receivedAt: Date(timeIntervalSince1970: 0),
        payload: .object(["name": .string("O'Brien & Sons <Ltd>"), "subject": .string("Quote"), "lines": .array([.string("a"), .string("b")])])
    )

    func route(title: String, description: String? = nil) -> Route {
        Route(pipeline: "sales", stage: "new", titleTemplate: title, descriptionTemplate: description)
    }

    @Test func titlesArePlainTextNotHTMLEscaped() throws {
        let item = try ItemComposer().compose(route: route(title: "{{payload.name}}: {{payload.subject}}"), facts: facts)
        #expect(item.title == "O'Brien & Sons <Ltd>: Quote")
        #expect(item.fields == facts.payload)
    }

    @Test func titlesAreOneLineAndBounded() throws {
        let multiline = try ItemComposer().compose(route: route(title: "  first\n\n  second  "), facts: facts)
        #expect(multiline.title == "first second")
        let long = try ItemComposer().compose(route: route(title: String(repeating: "x", count: 500)), facts: facts)
        #expect(long.title.count == ItemComposer.maxTitleLength)
        #expect(long.title.hasSuffix("…"))
    }

    @Test func missingFieldsFallBack() throws {
        let item = try ItemComposer().compose(route: route(title: "{{payload.nope}}"), facts: facts)
        #expect(item.title == "Submission via contact-form")
    }

    @Test func descriptionsKeepLinesAndSections() throws {
        let item = try ItemComposer().compose(route: route(title: "t", description: "From {{payload.name}}\n{{#payload.lines}}- {{.}}\n{{/payload.lines}}{{intake_id}}"), facts: facts)
        #expect(item.description == "From O'Brien & Sons <Ltd>\n- a\n- b\nin_42")
    }

    @Test func brokenTemplatesAreCaught() {
        #expect(throws: TemplateError.self) { try ItemComposer.validate("{{#payload}}unclosed") }
        #expect(throws: PermanentJobError.self) { try ItemComposer().compose(route: route(title: "{{/x}}"), facts: facts) }
        #expect(throws: Never.self) { try ItemComposer.validate("{{payload.name}} ok") }
    }
}
