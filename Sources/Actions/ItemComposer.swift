public import Core
import Foundation
import Mustache
import Synchronization

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

    /// Compiled templates by source text; a route's templates are parsed once, not per item.
    private let cache = TemplateCache()

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
        if let cached = cache[template] {
            compiled = cached
        } else {
            do {
                compiled = try MustacheTemplate(string: Self.plainText(template))
            } catch {
                throw PermanentJobError(TemplateError(template: template, reason: "\(error)").description)
            }
            cache[template] = compiled
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

/// A bounded map from template text to its compiled form. Templates come from configuration, so
/// the set is small; the bound only guards against a reload loop that keeps changing them.
final class TemplateCache: Sendable {
    private static let limit = 256
    private let templates = Mutex<[String: MustacheTemplate]>([:])

    subscript(text: String) -> MustacheTemplate? {
        get { templates.withLock { $0[text] } }
        set {
            templates.withLock { table in
                if table.count >= Self.limit { table.removeAll() }
                table[text] = newValue
            }
        }
    }
}
