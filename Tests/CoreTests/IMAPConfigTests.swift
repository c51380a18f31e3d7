import Core
import Foundation
import Testing

@Suite("IMAP source configuration")
struct IMAPConfigTests {
    func document(_ source: String) -> String {
        """
        {
          "organizations": [{
            "id": "demo",
            "pipelines": [{"id": "sales", "stages": [{"id": "new"}]}],
            "default_route": {"pipeline": "sales"},
            "sources": [\(source)]
          }]
        }
        """
    }

    func parse(_ source: String) throws(ConfigError) -> DaemonConfig {
        try ConfigParser.parse(Data(document(source).utf8), sourceName: "test.json")
    }

    func issues(_ source: String) -> [String] {
        do {
            _ = try parse(source)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func defaults() throws {
        let config = try parse(#"{"id": "mail", "type": "imap", "host": "imap.example.com", "username": "u", "password": {"env": "PW"}}"#)
        let source = try #require(config.source("mail"))
        #expect(source.kind == .imap)
        let imap = try #require(source.imap)
        #expect(imap.port == 993)
        #expect(imap.tls == .implicit)
        #expect(imap.folders == ["INBOX"])
        #expect(imap.idle)
        #expect(imap.pollInterval == 60)
        #expect(imap.processed == .flag("\\Seen"))
        #expect(imap.credential == .password(.env("PW")))
        #expect(imap.maxMessageBytes == 25 << 20)
        #expect(imap.streamThresholdBytes == 4 << 20)
        #expect(imap.unhealthyAfter == 900)
    }

    @Test func everyKey() throws {
        let config = try parse(#"""
            {"id": "mail", "type": "imap", "host": "imap.example.com", "port": 143, "tls": "starttls", "ca_file": "/etc/ca.pem",
             "username": "u", "xoauth2_token": {"file": "/run/token"}, "folders": ["INBOX", "Invoices"],
             "poll_interval_seconds": 30, "idle": false, "idle_restart_seconds": 600,
             "processed": {"action": "move", "folder": "Done"}, "max_message_bytes": 4096,
             "unhealthy_after_seconds": 60, "timeout_seconds": 5, "stream_threshold_bytes": 2048}
            """#)
        let imap = try #require(config.source("mail")?.imap)
        #expect(imap.port == 143 && imap.tls == .starttls && imap.caFile == "/etc/ca.pem")
        #expect(imap.credential == .xoauth2(.file("/run/token")))
        #expect(imap.folders == ["INBOX", "Invoices"])
        #expect(imap.pollInterval == 30 && !imap.idle && imap.idleRestart == 600)
        #expect(imap.processed == .move("Done"))
        #expect(imap.maxMessageBytes == 4096 && imap.unhealthyAfter == 60 && imap.timeout == 5)
        #expect(imap.streamThresholdBytes == 2048)
    }

    @Test func streamThresholdDefaultAndRange() {
        let base = #""id": "m", "type": "imap", "host": "h", "username": "u", "password": {"value": "p"}"#
        #expect(issues(#"{\#(base), "stream_threshold_bytes": 100}"#) == [
            "organizations[0].sources[0].stream_threshold_bytes: expected an integer in 1024...1073741824, got 100",
        ])
        #expect(IMAPSourceSettings(host: "h", port: 993, tls: .implicit, username: "u", credential: .password(.value("p"))).streamThresholdBytes == 4 << 20)
    }

    @Test func cleartextNeedsAllowInsecureAndLoopback() {
        let base = #""type": "imap", "username": "u", "password": {"value": "p"}, "tls": "none""#
        #expect(issues(#"{"id": "a", "host": "127.0.0.1", \#(base)}"#).contains { $0.hasSuffix(".tls: \"none\" sends the password in clear text; expected implicit or starttls (or allow_insecure: true with a loopback host, for tests)") })
        #expect(issues(#"{"id": "a", "host": "mail.example.com", "allow_insecure": true, \#(base)}"#) == [
            "organizations[0].sources[0].allow_insecure: only allowed with a loopback host (127.0.0.1, ::1 or localhost), got \"mail.example.com\"",
        ])
        #expect(issues(#"{"id": "a", "host": "127.0.0.1", "allow_insecure": true, \#(base)}"#).isEmpty)
    }

    @Test func errorsNameTheirKeys() {
        let found = issues(#"""
            {"id": "mail", "type": "imap", "host": "h", "username": "u", "tls": "ssl", "folders": [],
             "processed": {"action": "archive"}, "idle": "yes", "colour": 1}
            """#)
        #expect(found.contains("organizations[0].sources[0].colour: unknown key; expected one of allow_insecure, ca_file, folders, host, id, idle, idle_restart_seconds, max_message_bytes, password, poll_interval_seconds, port, processed, route, stream_threshold_bytes, timeout_seconds, tls, type, unhealthy_after_seconds, username, xoauth2_token"))
        #expect(found.contains("organizations[0].sources[0].tls: expected one of implicit, starttls, none, got \"ssl\""))
        #expect(found.contains("organizations[0].sources[0].folders: expected at least one folder"))
        #expect(found.contains("organizations[0].sources[0].processed.action: expected one of flag, move, delete, got \"archive\""))
        #expect(found.contains("organizations[0].sources[0].idle: expected true or false, got yes"))
        #expect(found.contains { $0.hasPrefix("organizations[0].sources[0].password: missing; expected password or xoauth2_token") })
    }

    @Test func processedActionsAreChecked() {
        let base = #""id": "m", "type": "imap", "host": "h", "username": "u", "password": {"value": "p"}"#
        #expect(issues(#"{\#(base), "processed": {"action": "flag", "flag": "$Processed"}}"#).isEmpty)
        #expect(issues(#"{\#(base), "processed": {"action": "flag", "flag": "bad flag"}}"#).count == 1)
        #expect(issues(#"{\#(base), "processed": {"action": "move", "folder": "INBOX"}}"#) == [
            "organizations[0].sources[0].processed.folder: expected a folder that is not watched by this source, got \"INBOX\"",
        ])
        #expect(issues(#"{\#(base), "processed": {"action": "delete"}}"#).isEmpty)
        #expect(issues(#"{\#(base), "password": {"value": "p"}, "xoauth2_token": {"value": "t"}}"#).isEmpty == false)
    }
}
