public import Core
import Foundation
import Mustache

/// A template that failed to parse, with where it came from.
public struct TemplateError: Error, CustomStringConvertible {
    public var template: String
    public var reason: String
    public var description: String { "template \"\(template)\" does not parse: \(reason)" }
}

/// Renders the title and description of a new pipeline item from its route's Mustache templates
/// over Facts. Titles are plain text (no HTML escaping), one line, at most `maxTitleLength` characters.
public struct ItemComposer: Sendable {
    public static let maxTitleLength = 200
    public static let maxDescriptionLength = 10_000

    public init() {}

    /// Checks a template at config load, so a typo is a config error rather than a failed job.
    public static func validate(_ template: String) throws {
        do {
            _ = try MustacheTemplate(string: plainText(template))
        } catch {
            throw TemplateError(template: template, reason: "\(error)")
        }
    }

    private static func plainText(_ template: String) -> String { "{{% CONTENT_TYPE: TEXT}}" + template }

    public func render(_ template: String, facts: Facts) throws -> String {
        let compiled: MustacheTemplate
        do {
            compiled = try MustacheTemplate(string: Self.plainText(template))
        } catch {
            throw PermanentJobError(TemplateError(template: template, reason: "\(error)").description)
        }
        return compiled.render(facts.templateContext)
    }

    /// The item to write for a routing decision.
    public func compose(route: Route, facts: Facts) throws -> NewPipelineItem {
        let rawTitle = try render(route.titleTemplate, facts: facts)
        var title = rawTitle.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        if title.count > Self.maxTitleLength { title = String(title.prefix(Self.maxTitleLength - 1)) + "…" }
        if title.isEmpty { title = "Submission via \(facts.source)" }
        var description = try route.descriptionTemplate.map { try render($0, facts: facts) }
        if let text = description, text.count > Self.maxDescriptionLength {
            description = String(text.prefix(Self.maxDescriptionLength - 1)) + "…"
        }
        return NewPipelineItem(id: Identifier.make(prefix: "it"), route: route, title: title, description: description, fields: facts.payload)
    }
}
