import Actions
import Core
import Foundation
import Testing

@Suite("Reply loop and abuse policy")
struct ReplyPolicyTests {
    static let policy = ReplyPolicy(ownAddresses: ["Support@Acme.example"], rateLimit: ReplyRateLimit(maxPerRecipient: 2, period: 3600))

    static func message(_ headers: [(String, String)] = [], from: String = "ada@customer.example", replyTo: String? = nil, returnPath: String? = "ada@customer.example") -> Message {
        Message(
            from: from.isEmpty ? [] : [MailAddress(address: from)], replyTo: replyTo.map { [MailAddress(address: $0)] } ?? [],
            returnPath: returnPath, headers: headers.map { MessageHeader(name: $0.0, value: $0.1) })
    }

    @Test("an ordinary message is answered, to Reply-To when given")
    func ordinary() {
        #expect(Self.policy.screen(Self.message()) == .reply(MailAddress(address: "ada@customer.example")))
        #expect(Self.policy.screen(Self.message(replyTo: "desk@customer.example")) == .reply(MailAddress(address: "desk@customer.example")))
        #expect(Self.policy.screen(Self.message([("Auto-Submitted", "no")])) == .reply(MailAddress(address: "ada@customer.example")))
        #expect(Self.policy.screen(Self.message([("Precedence", "first-class")])) == .reply(MailAddress(address: "ada@customer.example")))
        // No Return-Path at all (a message APPENDed by a client) is not a bounce.
        #expect(Self.policy.screen(Self.message(returnPath: nil)) == .reply(MailAddress(address: "ada@customer.example")))
    }

    @Test("never answered", arguments: [
        ("auto-submitted", ReplyPolicyTests.message([("Auto-Submitted", "auto-replied")]), "Auto-Submitted: auto-replied"),
        ("auto-generated with params", ReplyPolicyTests.message([("Auto-Submitted", "Auto-Generated; owner-email=x@y")]), "Auto-Submitted: auto-generated"),
        ("precedence bulk", ReplyPolicyTests.message([("Precedence", "bulk")]), "Precedence: bulk"),
        ("precedence list", ReplyPolicyTests.message([("Precedence", " List ")]), "Precedence: list"),
        ("precedence junk", ReplyPolicyTests.message([("Precedence", "junk")]), "Precedence: junk"),
        ("list-id", ReplyPolicyTests.message([("List-Id", "<news.example.com>")]), "List-Id"),
        ("x-auto-response-suppress", ReplyPolicyTests.message([("X-Auto-Response-Suppress", "OOF, AutoReply")]), "X-Auto-Response-Suppress"),
        ("bounce", ReplyPolicyTests.message(returnPath: ""), "empty return path"),
        ("mailer-daemon return path", ReplyPolicyTests.message(returnPath: "MAILER-DAEMON@mx.example"), "robot"),
        ("no-reply from", ReplyPolicyTests.message(from: "no-reply@shop.example"), "robot"),
        ("noreply+tag from", ReplyPolicyTests.message(from: "NoReply+orders@shop.example"), "robot"),
        ("do_not_reply reply-to", ReplyPolicyTests.message(replyTo: "do_not_reply@shop.example"), "robot"),
        ("postmaster", ReplyPolicyTests.message(from: "postmaster@example.com"), "robot"),
        ("our own address", ReplyPolicyTests.message(from: "support@acme.example"), "our own"),
        ("reply-to our own", ReplyPolicyTests.message(replyTo: "SUPPORT@acme.example"), "our own"),
        ("no address", ReplyPolicyTests.message(from: ""), "no From or Reply-To"),
    ])
    func suppressed(_ testCase: (String, Message, String)) {
        let (name, message, reason) = testCase
        let verdict = Self.policy.screen(message)
        guard case .suppress(let why) = verdict else {
            Issue.record("\(name): expected suppression, got \(verdict)")
            return
        }
        #expect(why.contains(reason), "\(name): \(why)")
    }

    @Test("not an email: nothing to answer")
    func notMail() {
        guard case .suppress = Self.policy.screen(nil) else { Issue.record("expected suppression"); return }
    }

    @Test("rate limit per recipient")
    func rateLimit() {
        #expect(Self.policy.limit(recipient: "ada@customer.example", recentReplies: 0) == nil)
        #expect(Self.policy.limit(recipient: "ada@customer.example", recentReplies: 1) == nil)
        guard case .suppress(let why)? = Self.policy.limit(recipient: "ada@customer.example", recentReplies: 2) else {
            Issue.record("expected suppression at the limit")
            return
        }
        #expect(why.contains("limit 2"))
    }

    @Test("robot addresses", arguments: [
        ("mailer-daemon@x.example", true), ("MAILER_DAEMON@x.example", true), ("noreply@x.example", true), ("no.reply@x.example", true),
        ("donotreply@x.example", true), ("bounces+123@x.example", true), ("ada@x.example", false), ("norbert@x.example", false),
        ("replies@x.example", false),
    ])
    func robots(address: String, robot: Bool) {
        #expect(ReplyPolicy.isRobot(address) == robot)
    }
}
