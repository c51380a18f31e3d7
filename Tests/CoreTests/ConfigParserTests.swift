import Core
import Foundation
import Testing

@Suite("Configuration parsing")
struct ConfigParserTests {
    static let valid = """
    {
      "state_dir": "./var",
      "listen": {"webhooks": "127.0.0.1:8080", "admin": "127.0.0.1:9090"},
      "organizations": [{
        "id": "demo", "name": "Demo",
        "pipelines": [{"id": "sales", "stages": [{"id": "new"}, {"id": "won"}]}],
        "default_route": {"pipeline": "sales", "title": "{{payload.name}}"},
        "sources": [
          {"id": "contact-form", "type": "webhook", "auth": {"type": "none"}},
          {"id": "signed", "type": "webhook", "auth": {"type": "standard-webhooks", "secrets": [{"env": "SIGNED_SECRET"}]},
           "route": {"pipeline": "sales", "stage": "won", "priority": "high", "assignee": null}}
        ]
      }]
    }
    """

    func parse(_ text: String, environment: [String: String] = [:]) throws(ConfigError) -> DaemonConfig {
        try ConfigParser.parse(Data(text.utf8), sourceName: "test.json", environment: environment)
    }

    func issues(_ text: String, environment: [String: String] = [:]) -> [String] {
        do {
            _ = try parse(text, environment: environment)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func validConfigAppliesDefaults() throws {
        let config = try parse(Self.valid)
        #expect(config.stateDir == "./var")
        #expect(config.webhookListen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(config.workers.concurrency == 4)
        #expect(config.workers.burstConcurrency == 0, "processing pauses during a burst by default")
        #expect(config.workers.maxBurstPause == 30)
        #expect(config.workers.retry.maxAttempts == 8)
        #expect(config.intakeBatchSize == 64)
        #expect(config.workers.retainDoneJobs == 7 * 86_400)
        let org = try #require(config.organization("demo"))
        #expect(org.defaultRoute.stage == "new", "stage defaults to the pipeline's first")
        #expect(org.defaultRoute.priority == .normal)
        let signed = try #require(config.source("signed"))
        #expect(signed.auth == .standardWebhooks(secrets: [.env("SIGNED_SECRET")], toleranceSeconds: 300))
        #expect(signed.route?.priority == .high)
        #expect(signed.route?.assignee == nil)
        #expect(signed.maxBodyBytes == 1 << 20)
    }

    @Test func everyErrorIsReportedWithItsPath() {
        let broken = """
        {
          "stat_dir": "./var",
          "listen": {"webhooks": "localhost", "admin": "0.0.0.0:9090"},
          "admin": {"allow_plaintext": "yes"},
          "workers": {"concurrency": 0, "backoff_base_seconds": "two"},
          "log": {"level": "loud"},
          "organizations": [{
            "id": "Demo!",
            "pipelines": [{"id": "sales", "stages": []}],
            "default_route": {"pipeline": "support"},
            "sources": [
              {"id": "a", "type": "webhook", "auth": {"type": "hmac"}},
              {"id": "a", "type": "pop3", "auth": {"type": "none"}},
              {"id": "b", "type": "webhook"}
            ]
          }]
        }
        """
        let found = issues(broken)
        let expected = [
            "stat_dir: unknown key",
            "listen.webhooks: expected \"host:port\"",
            // A non-loopback admin address parses; start-up checks tokens and TLS (AdminListenerPolicy).
            "admin.allow_plaintext: expected true or false",
            "workers.concurrency: expected an integer in 1...256, got 0",
            "workers.backoff_base_seconds: expected a number",
            "log.level: expected one of trace, debug, info, notice, warning, error, critical, got \"loud\"",
            "organizations[0].id: expected 1-64 characters",
            "organizations[0].pipelines[0].stages: expected at least one stage",
            "organizations[0].default_route.pipeline: expected one of this organization's pipelines (sales), got \"support\"",
            "organizations[0].sources[0].auth.type: expected one of standard-webhooks, github, bearer, none, got \"hmac\"",
            "organizations[0].sources[1].type: expected \"webhook\", \"imap\" or \"spool\", got \"pop3\"",
            "organizations[0].sources[2].auth: missing",
        ]
        for prefix in expected {
            #expect(found.contains { $0.hasPrefix(prefix) }, "missing \(prefix) in \(found)")
        }
    }

    @Test func burstConcurrencyIsAtMostConcurrency() throws {
        let text = { (workers: String) in Self.valid.replacingOccurrences(of: #""state_dir": "./var","#, with: #""state_dir": "./var", "workers": \#(workers),"#) }
        let set = try parse(text(#"{"concurrency": 8, "burst_concurrency": 3}"#))
        #expect(set.workers.concurrency == 8)
        #expect(set.workers.burstConcurrency == 3)
        #expect(try parse(text(#"{"concurrency": 6, "burst_concurrency": 6}"#)).workers.burstConcurrency == 6, "equal to concurrency: never held back")
        #expect(issues(text(#"{"concurrency": 2, "burst_concurrency": 3}"#)) == ["workers.burst_concurrency: expected a value no higher than workers.concurrency (2), got 3"])
        #expect(try parse(text(#"{"burst_concurrency": 0, "max_burst_pause_seconds": 5}"#)).workers == WorkerConfig(burstConcurrency: 0, maxBurstPause: 5))
        #expect(issues(text(#"{"burst_concurrency": -1}"#)).first?.hasPrefix("workers.burst_concurrency: expected an integer in 0...256, got -1") == true)
        #expect(issues(text(#"{"max_burst_pause_seconds": 0}"#)).first?.hasPrefix("workers.max_burst_pause_seconds: expected an integer in 1...3600, got 0") == true)
    }

    @Test func duplicateSourceIdsAcrossOrganizations() {
        let text = """
        {"organizations": [
          {"id": "one", "pipelines": [{"id": "p", "stages": [{"id": "s"}]}], "default_route": {"pipeline": "p"},
           "sources": [{"id": "form", "type": "webhook", "auth": {"type": "none"}}]},
          {"id": "two", "pipelines": [{"id": "p", "stages": [{"id": "s"}]}], "default_route": {"pipeline": "p"},
           "sources": [{"id": "form", "type": "webhook", "auth": {"type": "none"}}]}
        ]}
        """
        let found = issues(text)
        #expect(found.contains { $0.hasPrefix("organizations[1].sources[0].id: source id \"form\" is already used by organization \"one\"") }, "\(found)")
    }

    @Test func authKeysAreCheckedPerScheme() {
        let text = Self.valid.replacingOccurrences(of: #"{"type": "none"}"#, with: #"{"type": "github", "tokens": [{"env": "X"}]}"#)
        let found = issues(text)
        #expect(found.contains { $0.hasPrefix("organizations[0].sources[0].auth.tokens: unknown key") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("organizations[0].sources[0].auth.secrets: missing") }, "\(found)")
    }

    @Test func secretReferencesNeedExactlyOneKind() {
        let text = Self.valid.replacingOccurrences(of: #"[{"env": "SIGNED_SECRET"}]"#, with: #"[{"env": "A", "file": "/b"}, {"vault": "x"}]"#)
        let found = issues(text)
        #expect(found.contains { $0.hasPrefix("organizations[0].sources[1].auth.secrets[0]: expected exactly one of") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("organizations[0].sources[1].auth.secrets[1].vault: unknown key") }, "\(found)")
    }

    @Test func notJSON() {
        let found = issues("{\"state_dir\": ")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("not valid JSON") == true)
    }

    @Test func environmentOverridesApplyBeforeValidation() throws {
        let config = try parse(Self.valid, environment: [
            "ASTRALISD_LISTEN__ADMIN": "127.0.0.1:9191",
            "ASTRALISD_WORKERS__CONCURRENCY": "8",
            "ASTRALISD_STATE_DIR": "/srv/astralisd",
            "ASTRALISD_ORGANIZATIONS__0__NAME": "Acme",
            "ASTRALISD_CONFIG": "/etc/ignored.json",
            "ASTRALISD_TEST_CRASH_POINT": "ignored",
            "HOME": "/root",
        ])
        #expect(config.adminListen.port == 9191)
        #expect(config.workers.concurrency == 8)
        #expect(config.stateDir == "/srv/astralisd")
        #expect(config.organizations.first?.name == "Acme")
    }

    @Test func badEnvironmentOverridesAreErrors() {
        let found = issues(Self.valid, environment: [
            "ASTRALISD_WORKERS__CONCURRENCY": "0",
            "ASTRALISD_ORGANIZATIONS__7__NAME": "nope",
            "ASTRALISD_LISTN__ADMIN": "127.0.0.1:1",
        ])
        #expect(found.contains { $0.hasPrefix("workers.concurrency: expected an integer in 1...256, got 0") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("ASTRALISD_ORGANIZATIONS__7__NAME: environment override does not name a settable key") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("listn: unknown key") }, "\(found)")
    }

    @Test(arguments: [
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        ("[::1]:9090", "::1", 9090),
        ("localhost:1", "localhost", 1),
    ])
    func addresses(text: String, host: String, port: Int) {
        #expect(ConfigParser.parseAddress(text) == ListenAddress(host: host, port: port))
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":80", "::1:80", "[::1]80", "host:port"])
    func badAddresses(text: String) {
        #expect(ConfigParser.parseAddress(text) == nil)
    }

    @Test func restartOnlyKeysAreNamed() throws {
        let before = try parse(Self.valid)
        var after = before
        after.adminListen.port = 9999
        after.workers.concurrency = 2
        after.logLevel = "debug"
        #expect(after.restartOnlyDifferences(from: before) == ["listen.admin", "workers.concurrency"])
    }

    @Test func rulesFileWebhooksAndAI() throws {
        var text = Self.valid.replacingOccurrences(of: #""state_dir": "./var","#, with: #""state_dir": "./var", "rules_file": "rules.json", "ai": {"base_url": "http://127.0.0.1:8000/v1", "model": "local-7b", "api_key": {"env": "OPENAI_API_KEY"}, "timeout_seconds": 5, "max_input_chars": 2000, "max_attempts": 2},"#)
        text = text.replacingOccurrences(of: #""id": "demo", "name": "Demo","#, with: #""id": "demo", "name": "Demo", "outbound_webhooks": [{"id": "erp", "url": "https://erp.example/in"}],"#)
        let config = try parse(text)
        #expect(config.rulesFile == "rules.json")
        #expect(config.organizations.first?.outboundWebhooks == [OutboundWebhook(id: "erp", url: "https://erp.example/in")])
        let ai = try #require(config.ai)
        #expect(ai.baseURL == "http://127.0.0.1:8000/v1" && ai.model == "local-7b" && ai.apiKey == .env("OPENAI_API_KEY"))
        #expect(ai.timeout == 5 && ai.maxInputCharacters == 2000 && ai.retry.maxAttempts == 2)
        #expect(try parse(Self.valid).ai == nil)
    }

    @Test func aiAndWebhookErrors() {
        var text = Self.valid.replacingOccurrences(of: #""state_dir": "./var","#, with: #""state_dir": "./var", "rules_file": "", "ai": {"base_url": "ftp://x", "api_key": {"env": ""}, "max_attempts": 0},"#)
        text = text.replacingOccurrences(of: #""id": "demo", "name": "Demo","#, with: #""id": "demo", "name": "Demo", "outbound_webhooks": [{"id": "erp", "url": "erp.example"}, {"id": "erp", "url": "https://x"}],"#)
        #expect(issues(text) == [
            "rules_file: expected a file path, got an empty string",
            #"ai.base_url: expected an http:// or https:// URL such as https://api.openai.com/v1, got "ftp://x""#,
            "ai.model: missing; expected a string",
            #"ai.api_key: expected exactly one of {"env": NAME}, {"file": PATH}, {"credential": NAME}, {"value": SECRET} with a non-empty string"#,
            "ai.max_attempts: expected an integer in 1...10, got 0",
            #"organizations[0].outbound_webhooks[0].url: expected an http:// or https:// URL, got "erp.example""#,
            #"organizations[0].outbound_webhooks[1].id: duplicate outbound webhook id "erp""#,
        ])
    }
}

@Suite("Configuration: mail limits and spool sources")
struct MailAndSpoolConfigTests {
    func parse(sources: String, top: String = "") throws(ConfigError) -> DaemonConfig {
        let text = """
        {\(top)
          "organizations": [{
            "id": "demo",
            "pipelines": [{"id": "sales", "stages": [{"id": "new"}]}],
            "default_route": {"pipeline": "sales"},
            "sources": [\(sources)]
          }]
        }
        """
        return try ConfigParser.parse(Data(text.utf8), sourceName: "test.json")
    }

    func issues(sources: String, top: String = "") -> [String] {
        do {
            _ = try parse(sources: sources, top: top)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func mailDefaultsAndValues() throws {
        #expect(try parse(sources: "").mail == MailConfig())
        #expect(MailConfig() == MailConfig(maxMessageBytes: 50 << 20, maxParts: 1000, maxDepth: 32))
        let config = try parse(sources: "", top: #""mail": {"max_message_bytes": 1000, "max_parts": 5, "max_depth": 2},"#)
        #expect(config.mail == MailConfig(maxMessageBytes: 1000, maxParts: 5, maxDepth: 2))
        #expect(issues(sources: "", top: #""mail": {"max_parts": 0, "depth": 2},"#) == [
            "mail.depth: unknown key; expected one of max_depth, max_message_bytes, max_parts",
            "mail.max_parts: expected an integer in 1...100000, got 0",
        ])
    }

    @Test func documentsOCRSwitchAndWorkerRecycling() throws {
        let defaults = try parse(sources: "").documents
        #expect(defaults.ocrEnabled == true)
        #expect(defaults.workerMaxDocuments == 200)
        let config = try parse(sources: "", top: #""documents": {"ocr": false, "worker_max_documents": 5},"#)
        #expect(config.documents.ocrEnabled == false)
        #expect(config.documents.workerMaxDocuments == 5)
        #expect(issues(sources: "", top: #""documents": {"ocr": "no", "worker_max_documents": 0},"#) == [
            "documents.ocr: expected true or false, got no",
            "documents.worker_max_documents: expected an integer in 1...1000000, got 0",
        ])
    }

    @Test func spoolSourceDefaults() throws {
        let config = try parse(sources: #"{"id": "drop", "type": "spool", "path": "/srv/spool"}"#)
        let source = try #require(config.source("drop"))
        #expect(source.kind == .spool)
        #expect(source.spool == SpoolConfig(path: "/srv/spool", pollInterval: 1, doneDir: "/srv/spool/done", failedDir: "/srv/spool/failed", maxMessageBytes: 50 << 20))
        let tuned = try parse(sources: #"{"id": "drop", "type": "spool", "path": "in", "poll_interval_ms": 250, "done_dir": "/d", "failed_dir": "/f", "max_message_bytes": 10, "route": {"pipeline": "sales"}}"#)
        #expect(tuned.source("drop")?.spool == SpoolConfig(path: "in", pollInterval: 0.25, doneDir: "/d", failedDir: "/f", maxMessageBytes: 10))
        #expect(tuned.source("drop")?.route?.pipeline == "sales")
    }

    @Test func spoolFoldersAreRestartOnlyButTheirRoutesAreNot() throws {
        let before = try parse(sources: #"{"id": "drop", "type": "spool", "path": "/s"}"#)
        let moved = try parse(sources: #"{"id": "drop", "type": "spool", "path": "/t"}"#)
        let routed = try parse(sources: #"{"id": "drop", "type": "spool", "path": "/s", "route": {"pipeline": "sales"}}"#)
        #expect(moved.restartOnlyDifferences(from: before) == ["sources (spool folders)"])
        #expect(routed.restartOnlyDifferences(from: before).isEmpty)
        #expect(try parse(sources: "").restartOnlyDifferences(from: before) == ["sources (spool folders)"])
    }

    @Test func spoolSourceErrors() {
        #expect(issues(sources: #"{"id": "drop", "type": "spool", "path": "", "done_dir": "", "auth": {"type": "none"}}"#) == [
            "organizations[0].sources[0].auth: unknown key; expected one of done_dir, failed_dir, id, max_message_bytes, path, poll_interval_ms, route, type",
            "organizations[0].sources[0].path: expected a directory path, got an empty string",
            "organizations[0].sources[0].done_dir: expected a directory path, got an empty string",
        ])
        #expect(issues(sources: #"{"id": "drop", "type": "spool", "path": "/s", "failed_dir": "/s/", "done_dir": "/x", "max_message_bytes": 0}"#) == [
            "organizations[0].sources[0].failed_dir: expected a directory other than path (\"/s\"): files there would be taken again, got \"/s/\"",
            "organizations[0].sources[0].max_message_bytes: expected an integer in 1...1073741824, got 0",
        ])
        #expect(issues(sources: #"{"id": "drop", "type": "maildir"}"#) == [
            "organizations[0].sources[0].type: expected \"webhook\", \"imap\" or \"spool\", got \"maildir\"",
            "organizations[0].sources[0].auth: missing; expected {\"type\": \"standard-webhooks\" | \"github\" | \"bearer\" | \"none\", ...} (\"none\" must be chosen explicitly)",
        ])
    }
}
