public import Core
import Foundation
import Mustache

/// A rendered reply: what the composer puts into the message.
public struct RenderedReply: Sendable, Equatable {
    public var subject: String
    public var text: String
    public var html: String?
}

/// Renders a reply's templates over Facts with swift-mustache: the subject and the text body as
/// plain text (no escaping), the HTML body with HTML escaping of every `{{value}}`, so text from
/// the sender cannot inject markup. Compiled templates are cached like the item composer's.
public struct ReplyRenderer: Sendable {
    public static let maxSubjectLength = 200

    private let plain = TemplateCache()
    private let html = TemplateCache()

    public init() {}

    /// Checks a reply template at rules load (`html`: the HTML body), like `ItemComposer.validate`.
    public static func validate(_ template: String, html: Bool = false) throws {
        do {
            _ = try MustacheTemplate(string: html ? template : "{{% CONTENT_TYPE: TEXT}}" + template)
        } catch {
            throw TemplateError(template: template, reason: "\(error)")
        }
    }

    public func render(_ request: ReplyRequest, facts: Facts) throws -> RenderedReply {
        let context = facts.templateContext
        let rawSubject = try compiled(request.subjectTemplate, html: false).render(context)
        var subject = rawSubject.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        if subject.count > Self.maxSubjectLength { subject = String(subject.prefix(Self.maxSubjectLength - 1)) + "…" }
        let text = try compiled(request.bodyTemplate, html: false).render(context)
        let htmlBody = try request.htmlTemplate.map { try compiled($0, html: true).render(context) }
        return RenderedReply(subject: subject, text: text, html: htmlBody)
    }

    private func compiled(_ template: String, html isHTML: Bool) throws -> MustacheTemplate {
        let cache = isHTML ? html : plain
        if let cached = cache[template] { return cached }
        do {
            let compiled = try MustacheTemplate(string: isHTML ? template : "{{% CONTENT_TYPE: TEXT}}" + template)
            cache[template] = compiled
            return compiled
        } catch {
            throw PermanentJobError(TemplateError(template: template, reason: "\(error)").description)
        }
    }
}
