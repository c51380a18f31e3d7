public import Core
import Foundation

/// What the loop and abuse checks decided for one automatic reply.
public enum ReplyVerdict: Sendable, Equatable {
    /// Reply, to this address.
    case reply(MailAddress)
    /// Do not reply; the reason is recorded on the reply record.
    case suppress(String)
}

/// When an automatic reply must not be sent (RFC 3834 §2 and common practice): the message was
/// itself automatic (Auto-Submitted other than `no`, Precedence bulk/list/junk, a List-Id,
/// Microsoft's X-Auto-Response-Suppress), a bounce or a robot sent it (empty or MAILER-DAEMON /
/// no-reply / postmaster return path or address), it came from one of our own addresses, or the
/// recipient already got `rateLimit.maxPerRecipient` replies within `rateLimit.period`.
/// Pure: the caller counts recent replies in the store and passes the number in.
public struct ReplyPolicy: Sendable {
    /// Our own addresses, lower case (SMTP accounts' from addresses, IMAP account names).
    public var ownAddresses: Set<String>
    public var rateLimit: ReplyRateLimit

    public init(ownAddresses: some Sequence<String>, rateLimit: ReplyRateLimit) {
        self.ownAddresses = Set(ownAddresses.map { $0.lowercased() })
        self.rateLimit = rateLimit
    }

    /// The checks that need only the message answered. nil parent: the intake was not an email.
    public func screen(_ parent: Message?) -> ReplyVerdict {
        guard let parent else { return .suppress("the intake is not an email; there is no sender to reply to") }
        if let value = parent.header("Auto-Submitted") {
            let keyword = value.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            if keyword != "no" { return .suppress("the message is automatic (Auto-Submitted: \(keyword))") }
        }
        if let precedence = parent.header("Precedence")?.trimmingCharacters(in: .whitespaces).lowercased(),
           ["bulk", "list", "junk"].contains(precedence) {
            return .suppress("the message is bulk mail (Precedence: \(precedence))")
        }
        if parent.header("List-Id") != nil { return .suppress("the message came through a mailing list (List-Id)") }
        if let suppress = parent.header("X-Auto-Response-Suppress")?.lowercased(),
           ["all", "autoreply", "oof"].contains(where: { suppress.contains($0) }) {
            return .suppress("the sender asked for no automatic replies (X-Auto-Response-Suppress)")
        }
        if let returnPath = parent.returnPath {
            if returnPath.isEmpty { return .suppress("the message is a bounce (empty return path)") }
            if Self.isRobot(returnPath) { return .suppress("the return path \(returnPath) is a robot address") }
        }
        for from in parent.from where Self.isRobot(from.address) {
            return .suppress("the sender \(from.address) is a robot address")
        }
        for from in parent.from where ownAddresses.contains(from.address.lowercased()) {
            return .suppress("the message came from our own address \(from.address)")
        }
        guard let recipient = (parent.replyTo + parent.from).first(where: { !$0.address.isEmpty }) else {
            return .suppress("the message has no From or Reply-To address")
        }
        if Self.isRobot(recipient.address) { return .suppress("the reply address \(recipient.address) is a robot address") }
        if ownAddresses.contains(recipient.address.lowercased()) {
            return .suppress("the reply address \(recipient.address) is one of our own")
        }
        return .reply(recipient)
    }

    /// The rate limit: nil when one more reply to `recipient` is allowed.
    public func limit(recipient: String, recentReplies: Int) -> ReplyVerdict? {
        guard recentReplies >= rateLimit.maxPerRecipient else { return nil }
        return .suppress("\(recipient) already got \(recentReplies) automatic replies in the last \(Int(rateLimit.period)) s (limit \(rateLimit.maxPerRecipient))")
    }

    /// MAILER-DAEMON, postmaster, no-reply, do-not-reply and friends (any case, `+tag`, `-`, `_`, `.`).
    public static func isRobot(_ address: String) -> Bool {
        let local = address.split(separator: "@", maxSplits: 1).first.map(String.init) ?? address
        let base = local.split(separator: "+", maxSplits: 1).first.map(String.init) ?? local
        let squeezed = base.lowercased().filter { $0 != "-" && $0 != "_" && $0 != "." }
        if ["mailerdaemon", "postmaster", "listserv", "majordomo"].contains(squeezed) { return true }
        return ["noreply", "donotreply", "bounce"].contains { squeezed.hasPrefix($0) }
    }
}
