import Core
import Foundation
import Testing

@Suite("SMTP accounts configuration")
struct SMTPConfigTests {
    func document(accounts: String, replyAccount: String? = "support") -> String {
        """
        {
          "smtp_accounts": [\(accounts)],
          "organizations": [{
            "id": "demo",
            \(replyAccount.map { "\"reply_account\": \"\($0)\"," } ?? "")
            "pipelines": [{"id": "sales", "stages": [{"id": "new"}]}],
            "default_route": {"pipeline": "sales"},
            "sources": []
          }]
        }
        """
    }

    func issues(_ accounts: String, replyAccount: String? = "support") -> [String] {
        do {
            _ = try ConfigParser.parse(Data(document(accounts: accounts, replyAccount: replyAccount).utf8), sourceName: "test.json")
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func defaultsAndChoice() throws {
        let config = try ConfigParser.parse(Data(document(accounts: #"{"id": "support", "host": "smtp.example.com", "username": "u", "password": {"env": "PW"}, "from_address": "help@example.com"}"#).utf8), sourceName: "t")
        let account = try #require(config.smtpAccount("support"))
        #expect(account.port == 587)
        #expect(account.tls == .starttls)
        #expect(account.auth == .plain)
        #expect(account.messageIDDomain == "example.com")
        #expect(account.connectionReuse)
        #expect(account.rateLimit == ReplyRateLimit(maxPerRecipient: 3, period: 86_400))
        #expect(account.password == .env("PW"))
        #expect(config.organization("demo")?.replyAccount == "support")
    }

    @Test func implicitPortAndOptions() throws {
        let config = try ConfigParser.parse(Data(document(accounts: #"{"id": "support", "host": "smtp.example.com", "tls": "implicit", "auth": "xoauth2", "username": "u", "password": {"file": "/run/token"}, "from_address": "help@example.com", "from_name": "Help", "message_id_domain": "mail.example.com", "connection_reuse": false, "rate_limit": {"max_per_recipient": 1, "period_seconds": 60}}"#).utf8), sourceName: "t")
        let account = try #require(config.smtpAccount("support"))
        #expect(account.port == 465)
        #expect(account.auth == .xoauth2)
        #expect(account.fromName == "Help")
        #expect(account.messageIDDomain == "mail.example.com")
        #expect(!account.connectionReuse)
        #expect(account.rateLimit == ReplyRateLimit(maxPerRecipient: 1, period: 60))
    }

    @Test("errors name their key path", arguments: [
        (#"{"id": "support", "host": "smtp.example.com", "tls": "none", "from_address": "a@b.c"}"#, "smtp_accounts[0].tls"),
        (#"{"id": "support", "host": "smtp.example.com", "tls": "none", "allow_insecure": true, "from_address": "a@b.c"}"#, "smtp_accounts[0].allow_insecure"),
        (#"{"id": "support", "host": "h", "username": "u", "from_address": "a@b.c"}"#, "smtp_accounts[0].password"),
        (#"{"id": "support", "host": "h", "from_address": "not an address"}"#, "smtp_accounts[0].from_address"),
        (#"{"id": "support", "host": "h", "from_address": "a@b.c", "auth": "cram-md5"}"#, "smtp_accounts[0].auth"),
        (#"{"id": "support", "host": "h", "from_address": "a@b.c", "tls": "ssl"}"#, "smtp_accounts[0].tls"),
        (#"{"id": "support", "host": "h", "from_address": "a@b.c", "colour": 1}"#, "smtp_accounts[0]"),
    ])
    func errors(account: String, path: String) {
        let found = issues(account)
        #expect(found.contains { $0.hasPrefix(path) }, "\(found)")
    }

    @Test func loopbackClearTextAllowedWithFlag() {
        #expect(issues(#"{"id": "support", "host": "127.0.0.1", "port": 2525, "tls": "none", "allow_insecure": true, "from_address": "a@b.c"}"#) == [])
    }

    @Test func unknownReplyAccount() {
        let found = issues(#"{"id": "support", "host": "h", "from_address": "a@b.c"}"#, replyAccount: "other")
        #expect(found.contains { $0.hasPrefix("organizations[0].reply_account") && $0.contains("unknown SMTP account \"other\"") }, "\(found)")
    }
}
