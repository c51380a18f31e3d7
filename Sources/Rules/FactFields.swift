public import Core

/// Fact fields a rule names outside its conditions (`schedule.attendee`, `schedule.window_start`...),
/// read the way conditions read them.
public enum FactFields {
    /// The value of `payload.<path>` (the whole field name, prefix included); nil when the name
    /// is not a payload path or the payload has nothing there.
    public static func payloadValue(_ field: String, in facts: Facts) -> JSONValue? {
        guard field.hasPrefix("payload."), let path = RuleLoader.path(String(field.dropFirst(8))) else { return nil }
        return FactsView.node(at: path, in: facts.payload)
    }

    /// The addresses of `from` or `reply_to`: the message's headers, or a form's sender field.
    /// `reply_to` falls back to `from` when the message has none (RFC 5322 §3.6.2).
    public static func addresses(_ field: String, in facts: Facts) -> [MailAddress] {
        if let message = facts.message {
            if field == "reply_to", !message.replyTo.isEmpty { return message.replyTo }
            if !message.from.isEmpty { return message.from }
        }
        guard let from = facts.from, !from.isEmpty else { return [] }
        return FactsView.formSender(from)
    }
}
