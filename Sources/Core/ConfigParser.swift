public import Foundation

/// Reads a configuration document into `DaemonConfig`, collecting every problem with its key path
/// instead of stopping at the first (the way `nginx -t` reports). Pure: environment values are
/// passed in, nothing is read from disk.
public struct ConfigParser {
    /// Environment variables that configure the daemon itself and are not key overrides.
    /// (`ASTRALISD_EXTRACT_BIN`: the `astralisd-extract` executable, see `ExtractionSandbox`.)
    public static let reservedEnvironment: Set<String> = ["ASTRALISD_CONFIG", "ASTRALISD_EXTRACT_BIN"]
    /// Variables starting with this are test and tooling hooks, never key overrides.
    public static let reservedPrefix = "ASTRALISD_TEST_"
    public static let environmentPrefix = "ASTRALISD_"

    private var issues: [ConfigIssue] = []

    public init() {}

    /// Parses `data` (the file's bytes), applying `ASTRALISD_*` overrides from `environment`.
    public static func parse(_ data: Data, sourceName: String, environment: [String: String] = [:]) throws(ConfigError) -> DaemonConfig {
        var parser = ConfigParser()
        let root: JSONValue
        do {
            root = try JSONValue.parse(data)
        } catch {
            throw ConfigError(source: sourceName, issues: [ConfigIssue(path: "", message: "not valid JSON (\(Self.describe(error)))")])
        }
        let overridden = parser.applyOverrides(root, environment: environment)
        let config = parser.readConfig(overridden)
        if let config, parser.issues.isEmpty { return config }
        throw ConfigError(source: sourceName, issues: parser.issues)
    }

    private static func describe(_ error: any Error) -> String {
        if let decoding = error as? DecodingError, case .dataCorrupted(let context) = decoding {
            let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return underlying ?? context.debugDescription
        }
        return "\(error)"
    }

    // MARK: - Environment overrides

    /// `ASTRALISD_LISTEN__ADMIN=127.0.0.1:9191` sets `listen.admin`; `__` separates keys, a number
    /// selects an array element, and a value that parses as JSON is taken as JSON (else a string).
    mutating func applyOverrides(_ root: JSONValue, environment: [String: String]) -> JSONValue {
        var result = root
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            guard name.hasPrefix(Self.environmentPrefix), !Self.reservedEnvironment.contains(name),
                  !name.hasPrefix(Self.reservedPrefix) else { continue }
            let segments = name.dropFirst(Self.environmentPrefix.count)
                .components(separatedBy: "__").map { $0.lowercased() }
            guard !segments.contains(where: \.isEmpty) else {
                issues.append(ConfigIssue(path: name, message: "environment override has an empty key segment"))
                continue
            }
            let parsed = (try? JSONValue.parse(Data(value.utf8))) ?? .string(value)
            if let updated = Self.set(parsed, at: segments[...], in: result) {
                result = updated
            } else {
                issues.append(ConfigIssue(path: name, message: "environment override does not name a settable key (\(segments.joined(separator: ".")))"))
            }
        }
        return result
    }

    private static func set(_ value: JSONValue, at path: ArraySlice<String>, in node: JSONValue?) -> JSONValue? {
        guard let head = path.first else { return value }
        let rest = path.dropFirst()
        if let index = Int(head) {
            guard case .array(var items) = node, items.indices.contains(index),
                  let updated = set(value, at: rest, in: items[index]) else { return nil }
            items[index] = updated
            return .array(items)
        }
        var object: [String: JSONValue]
        switch node {
        case .object(let existing): object = existing
        case nil, .null: object = [:]
        default: return nil
        }
        guard let updated = set(value, at: rest, in: object[head]) else { return nil }
        object[head] = updated
        return .object(object)
    }

    // MARK: - Document

    mutating func readConfig(_ root: JSONValue) -> DaemonConfig? {
        guard let top = object(root, at: "", keys: ["state_dir", "listen", "workers", "shutdown", "log", "intake", "mail", "organizations", "rules_file", "ai", "documents", "smtp_accounts", "admin", "scheduling"]) else {
            return nil
        }
        let stateDir = string(top, "state_dir", at: "", default: "/var/lib/astralisd") ?? "/var/lib/astralisd"
        let rulesFile = string(top, "rules_file", at: "", default: nil)
        if rulesFile?.isEmpty == true { issue("rules_file", "expected a file path, got an empty string") }
        let ai = top["ai"].flatMap { readAI($0, at: "ai") }
        if stateDir.isEmpty { issue("state_dir", "expected a directory path, got an empty string") }

        let listen = optionalObject(top, "listen", at: "", keys: ["webhooks", "admin"])
        let webhooks = address(listen, "webhooks", at: "listen", default: ListenAddress(host: "127.0.0.1", port: 8080))
        let admin = address(listen, "admin", at: "listen", default: ListenAddress(host: "127.0.0.1", port: 9090))
        // A non-loopback admin bind is checked at start-up (`AdminListenerPolicy`): it needs tokens
        // in the store, which the parser cannot see.
        let adminSection = optionalObject(top, "admin", at: "", keys: ["allow_plaintext"])
        let adminPlaintext = bool(adminSection, "allow_plaintext", at: "admin", default: false)

        let workersObject = optionalObject(top, "workers", at: "", keys: ["concurrency", "burst_concurrency", "max_burst_pause_seconds", "poll_interval_ms", "lease_seconds", "max_attempts", "backoff_base_seconds", "backoff_max_seconds", "backoff_jitter", "retain_done_jobs_hours"])
        let defaults = WorkerConfig()
        let concurrency = integer(workersObject, "concurrency", at: "workers", range: 1...256, default: defaults.concurrency)
        let burstConcurrency = integer(workersObject, "burst_concurrency", at: "workers", range: 0...256, default: min(defaults.burstConcurrency, concurrency))
        let maxBurstPause = integer(workersObject, "max_burst_pause_seconds", at: "workers", range: 1...3600, default: Int(defaults.maxBurstPause))
        if burstConcurrency > concurrency { issue("workers.burst_concurrency", "expected a value no higher than workers.concurrency (\(concurrency)), got \(burstConcurrency)") }
        let pollMs = integer(workersObject, "poll_interval_ms", at: "workers", range: 10...60_000, default: 500)
        let lease = integer(workersObject, "lease_seconds", at: "workers", range: 5...86_400, default: 60)
        let maxAttempts = integer(workersObject, "max_attempts", at: "workers", range: 1...100, default: defaults.retry.maxAttempts)
        let base = number(workersObject, "backoff_base_seconds", at: "workers", range: 0.01...86_400, default: defaults.retry.baseDelay)
        let maxDelay = number(workersObject, "backoff_max_seconds", at: "workers", range: 0.01...604_800, default: defaults.retry.maxDelay)
        let jitter = number(workersObject, "backoff_jitter", at: "workers", range: 0...1, default: defaults.retry.jitter)
        let retainHours = integer(workersObject, "retain_done_jobs_hours", at: "workers", range: 1...87_600, default: Int(defaults.retainDoneJobs / 3600))
        if base > maxDelay { issue("workers.backoff_max_seconds", "expected a value no lower than workers.backoff_base_seconds (\(base)), got \(maxDelay)") }

        let shutdown = optionalObject(top, "shutdown", at: "", keys: ["grace_seconds"])
        let grace = number(shutdown, "grace_seconds", at: "shutdown", range: 0.1...600, default: 20)

        let log = optionalObject(top, "log", at: "", keys: ["level"])
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        let level = string(log, "level", at: "log", default: "info") ?? "info"
        if !levels.contains(level) { issue("log.level", "expected one of \(levels.joined(separator: ", ")), got \"\(level)\"") }

        let intake = optionalObject(top, "intake", at: "", keys: ["batch_size"])
        let batch = integer(intake, "batch_size", at: "intake", range: 1...1000, default: 64)

        var organizations: [OrganizationConfig] = []
        if let list = array(top, "organizations", at: "") {
            if list.isEmpty { issue("organizations", "expected at least one organization") }
            for (index, element) in list.enumerated() {
                if let org = readOrganization(element, at: "organizations[\(index)]") { organizations.append(org) }
            }
        }
        // Uniqueness is checked on the ids as written, so an element that failed to parse still
        // takes part and every path names the element's index in the file.
        let organizationList = top["organizations"]?.arrayValue ?? []
        checkUnique(Self.rawIDs(organizationList), at: { "organizations[\($0)].id" }, what: "organization id")
        var seenSources: [String: String] = [:]
        for (orgIndex, org) in organizationList.enumerated() {
            let orgID = org["id"]?.stringValue ?? "#\(orgIndex)"
            for (sourceIndex, source) in Self.rawIDs(org["sources"]?.arrayValue ?? []) {
                if let other = seenSources[source] {
                    issue("organizations[\(orgIndex)].sources[\(sourceIndex)].id", "source id \"\(source)\" is already used by organization \"\(other)\"; source ids are unique across organizations because they name the URL /hooks/{source}")
                }
                seenSources[source] = orgID
            }
        }

        let mail = readMail(top)

        var config = DaemonConfig(
            stateDir: stateDir,
            webhookListen: webhooks ?? ListenAddress(host: "127.0.0.1", port: 8080),
            adminListen: admin ?? ListenAddress(host: "127.0.0.1", port: 9090),
            workers: WorkerConfig(
                concurrency: concurrency,
                burstConcurrency: burstConcurrency,
                maxBurstPause: TimeInterval(maxBurstPause),
                pollInterval: Double(pollMs) / 1000,
                leaseDuration: TimeInterval(lease),
                retry: RetryPolicy(baseDelay: base, maxDelay: maxDelay, maxAttempts: maxAttempts, jitter: jitter),
                retainDoneJobs: TimeInterval(retainHours) * 3600
            ),
            shutdownGrace: grace,
            logLevel: level,
            intakeBatchSize: batch,
            organizations: organizations,
            rulesFile: rulesFile,
            ai: ai
        )
        config.mail = mail
        config.documents = readDocuments(top)
        if case .object(let documents)? = top["documents"], let model = documents["model"], model != .null {
            config.documentModel = readDocumentModel(model, at: "documents.model")
        }
        config.smtpAccounts = readSMTPAccounts(top)
        let accountIDs = Set(config.smtpAccounts.map(\.id))
        for (index, org) in organizationList.enumerated() {
            guard let account = org["reply_account"] else { continue }
            let path = "organizations[\(index)].reply_account"
            if let id = account.stringValue {
                if !accountIDs.contains(id) {
                    issue(path, "unknown SMTP account \"\(id)\"; expected one of smtp_accounts[].id (\(accountIDs.sorted().joined(separator: ", ")))")
                }
                if let position = config.organizations.firstIndex(where: { $0.id == org["id"]?.stringValue }) {
                    config.organizations[position].replyAccount = id
                }
            } else {
                issue(path, "expected the id of an smtp_accounts[] entry, got \(account.displayText)")
            }
        }
        config.adminAllowPlaintext = adminPlaintext
        config.scheduling = readScheduling(top, config: config)
        return config
    }

    /// `documents`: pre-decode limits, the extraction child's limits, OCR settings (docs/documents.md).
    private mutating func readDocuments(_ top: [String: JSONValue]) -> DocumentsConfig {
        let path = "documents"
        let d = optionalObject(top, "documents", at: "", keys: [
            "max_file_bytes", "max_pages", "max_page_points", "max_image_pixels", "max_inflated_bytes",
            "memory_limit_bytes", "cpu_seconds", "timeout_seconds", "concurrency", "ocr_threads",
            "ocr_languages", "page_segmentation_mode", "dpi", "min_page_text_characters", "thumbnail_width",
            "max_text_characters", "model", "ocr", "worker_max_documents",
        ])
        let defaults = DocumentsConfig()
        var languages = defaults.ocrLanguages
        if let d, let list = optionalArray(d, "ocr_languages", at: path) {
            languages = []
            for (index, element) in list.enumerated() {
                let valid = element.stringValue.map { !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } } ?? false
                if let name = element.stringValue, valid {
                    languages.append(name)
                } else {
                    issue("\(path).ocr_languages[\(index)]", "expected a tesseract language name such as \"eng\" or \"deu\", got \(element.kindName)")
                }
            }
            if list.isEmpty { issue("\(path).ocr_languages", "expected at least one language") }
        }
        var documents = DocumentsConfig(
            maxFileBytes: integer(d, "max_file_bytes", at: path, range: 1...(1 << 32), default: defaults.maxFileBytes),
            maxPages: integer(d, "max_pages", at: path, range: 1...100_000, default: defaults.maxPages),
            maxPagePoints: number(d, "max_page_points", at: path, range: 1...1_000_000, default: defaults.maxPagePoints),
            maxImagePixels: integer(d, "max_image_pixels", at: path, range: 1...(1 << 34), default: defaults.maxImagePixels),
            maxInflatedBytes: integer(d, "max_inflated_bytes", at: path, range: 1024...(1 << 34), default: defaults.maxInflatedBytes),
            memoryLimitBytes: integer(d, "memory_limit_bytes", at: path, range: (256 << 20)...(1 << 40), default: defaults.memoryLimitBytes),
            cpuSeconds: integer(d, "cpu_seconds", at: path, range: 1...86_400, default: defaults.cpuSeconds),
            timeoutSeconds: number(d, "timeout_seconds", at: path, range: 0.1...86_400, default: defaults.timeoutSeconds),
            concurrency: integer(d, "concurrency", at: path, range: 1...256, default: defaults.concurrency),
            ocrThreads: integer(d, "ocr_threads", at: path, range: 1...256, default: defaults.ocrThreads),
            ocrLanguages: languages,
            pageSegmentationMode: integer(d, "page_segmentation_mode", at: path, range: 0...13, default: defaults.pageSegmentationMode),
            dpi: integer(d, "dpi", at: path, range: 50...1200, default: defaults.dpi),
            minPageTextCharacters: integer(d, "min_page_text_characters", at: path, range: 0...100_000, default: defaults.minPageTextCharacters),
            thumbnailWidth: integer(d, "thumbnail_width", at: path, range: 0...2048, default: defaults.thumbnailWidth),
            maxTextCharacters: integer(d, "max_text_characters", at: path, range: 1...100_000_000, default: defaults.maxTextCharacters)
        )
        documents.ocrEnabled = bool(d, "ocr", at: path, default: defaults.ocrEnabled)
        documents.workerMaxDocuments = integer(d, "worker_max_documents", at: path, range: 1...1_000_000, default: defaults.workerMaxDocuments)
        return documents
    }

    /// `mail`: limits for every parsed message; the defaults are `Mail.MailLimits.default`.
    private mutating func readMail(_ top: [String: JSONValue]) -> MailConfig {
        let mail = optionalObject(top, "mail", at: "", keys: ["max_message_bytes", "max_parts", "max_depth"])
        let defaults = MailConfig()
        return MailConfig(
            maxMessageBytes: integer(mail, "max_message_bytes", at: "mail", range: 1...(1 << 30), default: defaults.maxMessageBytes),
            maxParts: integer(mail, "max_parts", at: "mail", range: 1...100_000, default: defaults.maxParts),
            maxDepth: integer(mail, "max_depth", at: "mail", range: 1...1000, default: defaults.maxDepth)
        )
    }

    /// `smtp_accounts`: outgoing mail accounts for automatic replies.
    private mutating func readSMTPAccounts(_ top: [String: JSONValue]) -> [SMTPAccountConfig] {
        guard let list = optionalArray(top, "smtp_accounts", at: "") else { return [] }
        var accounts: [SMTPAccountConfig] = []
        for (index, element) in list.enumerated() {
            if let account = readSMTPAccount(element, at: "smtp_accounts[\(index)]") { accounts.append(account) }
        }
        checkUnique(Self.rawIDs(list), at: { "smtp_accounts[\($0)].id" }, what: "SMTP account id")
        return accounts
    }

    private mutating func readSMTPAccount(_ value: JSONValue, at path: String) -> SMTPAccountConfig? {
        let keys: Set<String> = [
            "id", "host", "port", "tls", "ca_file", "allow_insecure", "username", "password", "auth", "from_address",
            "from_name", "message_id_domain", "connect_timeout_seconds", "timeout_seconds", "connection_reuse",
            "rate_limit",
        ]
        guard let object = object(value, at: path, keys: keys) else { return nil }
        let id = identifier(object, "id", at: path) ?? ""
        let host = string(object, "host", at: path) ?? ""
        if object["host"] != nil && host.isEmpty { issue("\(path).host", "expected a host name or address, got an empty string") }
        let tlsText = string(object, "tls", at: path, default: "starttls") ?? "starttls"
        let tls = SMTPTLSMode(rawValue: tlsText)
        if tls == nil { issue("\(path).tls", "expected one of implicit, starttls, none, got \"\(tlsText)\"") }
        let port = integer(object, "port", at: path, range: 1...65535, default: tls == .implicit ? 465 : 587)
        let caFile = string(object, "ca_file", at: path, default: nil)
        let allowInsecure = bool(object, "allow_insecure", at: path, default: false)
        if tls == SMTPTLSMode.none {
            if !allowInsecure {
                issue("\(path).tls", "\"none\" sends mail and passwords in clear text; expected implicit or starttls (or allow_insecure: true with a loopback host, for tests)")
            } else if !host.isEmpty && !IMAPSourceSettings.isLoopback(host) {
                issue("\(path).allow_insecure", "only allowed with a loopback host (127.0.0.1, ::1 or localhost), got \"\(host)\"")
            }
        }
        let username = string(object, "username", at: path, default: nil)
        let password = object["password"].flatMap { secretRef($0, at: "\(path).password") }
        let authText = string(object, "auth", at: path, default: "plain") ?? "plain"
        let auth = SMTPAuthMechanism(rawValue: authText)
        if auth == nil { issue("\(path).auth", "expected one of plain, login, xoauth2, got \"\(authText)\"") }
        if username != nil, object["password"] == nil {
            issue("\(path).password", "missing; a username needs a password (or an OAuth token for auth xoauth2) as {\"env\": NAME}, {\"file\": PATH}, {\"credential\": NAME} or {\"value\": SECRET}")
        }
        if username == nil, object["password"] != nil { issue("\(path).username", "missing; a password is only sent with a username") }
        let from = string(object, "from_address", at: path) ?? ""
        if object["from_address"]?.stringValue != nil, !Self.isAddrSpec(from) {
            issue("\(path).from_address", "expected an address such as replies@example.com, got \"\(from)\"")
        }
        let fromName = string(object, "from_name", at: path, default: nil)
        if let fromName, fromName.contains(where: { $0 == "\r" || $0 == "\n" }) { issue("\(path).from_name", "expected one line of text") }
        let defaultDomain = from.split(separator: "@").last.map(String.init) ?? "localhost"
        let domain = string(object, "message_id_domain", at: path, default: defaultDomain) ?? defaultDomain
        if domain.isEmpty || !domain.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) {
            issue("\(path).message_id_domain", "expected a domain name such as example.com, got \"\(domain)\"")
        }
        let connectTimeout = integer(object, "connect_timeout_seconds", at: path, range: 1...600, default: 10)
        let timeout = integer(object, "timeout_seconds", at: path, range: 1...3600, default: 60)
        let reuse = bool(object, "connection_reuse", at: path, default: true)
        let limitObject = optionalObject(object, "rate_limit", at: path, keys: ["max_per_recipient", "period_seconds"])
        let defaults = ReplyRateLimit()
        let maxPerRecipient = integer(limitObject, "max_per_recipient", at: "\(path).rate_limit", range: 1...1_000_000, default: defaults.maxPerRecipient)
        let period = integer(limitObject, "period_seconds", at: "\(path).rate_limit", range: 1...31_536_000, default: Int(defaults.period))
        guard let tls, let auth else { return nil }
        return SMTPAccountConfig(
            id: id, host: host, port: port, tls: tls, caFile: caFile, allowInsecure: allowInsecure, username: username,
            password: password, auth: auth, fromAddress: from, fromName: fromName, messageIDDomain: domain,
            connectTimeout: TimeInterval(connectTimeout), timeout: TimeInterval(timeout), connectionReuse: reuse,
            rateLimit: ReplyRateLimit(maxPerRecipient: maxPerRecipient, period: TimeInterval(period)))
    }

    /// `local@domain` with no spaces, brackets or line breaks: what may go into MAIL FROM and From.
    public static func isAddrSpec(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        return !text.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," || $0 == "\0" })
    }

    private mutating func readAI(_ value: JSONValue, at path: String) -> AIConfig? {
        guard let object = object(value, at: path, keys: ["base_url", "model", "api_key", "timeout_seconds", "max_input_chars", "max_attempts"]) else { return nil }
        let baseURL = string(object, "base_url", at: path) ?? ""
        if object["base_url"]?.stringValue != nil, !(baseURL.hasPrefix("https://") || baseURL.hasPrefix("http://")) {
            issue("\(path).base_url", "expected an http:// or https:// URL such as https://api.openai.com/v1, got \"\(baseURL)\"")
        }
        let model = string(object, "model", at: path) ?? ""
        if object["model"]?.stringValue != nil, model.isEmpty { issue("\(path).model", "expected a model name, got an empty string") }
        let key = object["api_key"].flatMap { secretRef($0, at: "\(path).api_key") }
        let timeout = number(object, "timeout_seconds", at: path, range: 1...600, default: 20)
        let budget = integer(object, "max_input_chars", at: path, range: 500...1_000_000, default: 12_000)
        let attempts = integer(object, "max_attempts", at: path, range: 1...10, default: 4)
        return AIConfig(baseURL: baseURL, model: model, apiKey: key, timeout: timeout, maxInputCharacters: budget, retry: RetryPolicy(baseDelay: 0.5, maxDelay: 8, maxAttempts: attempts, jitter: 0.5))
    }

    /// `documents.model`: the optional field-extraction model (docs/documents.md, "Model-based extraction").
    private mutating func readDocumentModel(_ value: JSONValue, at path: String) -> DocumentModelConfig? {
        guard let object = object(value, at: path, keys: [
            "base_url", "model", "api_key", "timeout_seconds", "max_input_chars", "send_images", "max_images", "image_max_side_pixels", "image_max_bytes",
        ]) else { return nil }
        let baseURL = string(object, "base_url", at: path) ?? ""
        if object["base_url"]?.stringValue != nil, !(baseURL.hasPrefix("https://") || baseURL.hasPrefix("http://")) {
            issue("\(path).base_url", "expected an http:// or https:// URL such as https://api.openai.com/v1, got \"\(baseURL)\"")
        }
        let model = string(object, "model", at: path) ?? ""
        if object["model"]?.stringValue != nil, model.isEmpty { issue("\(path).model", "expected a model name, got an empty string") }
        let key = object["api_key"].flatMap { secretRef($0, at: "\(path).api_key") }
        let defaults = DocumentModelConfig(baseURL: "", model: "")
        let timeout = number(object, "timeout_seconds", at: path, range: 0.1...600, default: defaults.timeout)
        let budget = integer(object, "max_input_chars", at: path, range: 500...1_000_000, default: defaults.maxInputCharacters)
        var config = DocumentModelConfig(baseURL: baseURL, model: model, apiKey: key, timeout: timeout, maxInputCharacters: budget)
        config.sendImages = bool(object, "send_images", at: path, default: defaults.sendImages)
        config.maxImages = integer(object, "max_images", at: path, range: 1...8, default: defaults.maxImages)
        config.imageMaxSidePixels = integer(object, "image_max_side_pixels", at: path, range: 256...8192, default: defaults.imageMaxSidePixels)
        config.imageMaxBytes = integer(object, "image_max_bytes", at: path, range: 16_384...(20 << 20), default: defaults.imageMaxBytes)
        return config
    }

    private mutating func readOrganization(_ value: JSONValue, at path: String) -> OrganizationConfig? {
        guard let org = object(value, at: path, keys: ["id", "name", "pipelines", "sources", "default_route", "outbound_webhooks", "reply_account"]) else { return nil }
        let id = identifier(org, "id", at: path) ?? ""
        let name = string(org, "name", at: path, default: id) ?? id
        var pipelines: [Pipeline] = []
        if let list = array(org, "pipelines", at: path) {
            if list.isEmpty { issue("\(path).pipelines", "expected at least one pipeline") }
            for (index, element) in list.enumerated() {
                if let pipeline = readPipeline(element, organization: id, at: "\(path).pipelines[\(index)]") { pipelines.append(pipeline) }
            }
        }
        checkUnique(Self.rawIDs(org["pipelines"]?.arrayValue ?? []), at: { "\(path).pipelines[\($0)].id" }, what: "pipeline id")

        var defaultRoute: Route?
        if org["default_route"] == nil {
            issue("\(path).default_route", "missing; expected an object with pipeline, stage and title")
        } else if let routeValue = org["default_route"] {
            defaultRoute = readRoute(routeValue, pipelines: pipelines, at: "\(path).default_route")
        }

        var sources: [SourceConfig] = []
        if let list = array(org, "sources", at: path) {
            for (index, element) in list.enumerated() {
                if let source = readSource(element, organization: id, pipelines: pipelines, at: "\(path).sources[\(index)]") { sources.append(source) }
            }
        }
        var webhooks: [OutboundWebhook] = []
        if let list = optionalArray(org, "outbound_webhooks", at: path) {
            for (index, element) in list.enumerated() {
                let hookPath = "\(path).outbound_webhooks[\(index)]"
                if let hook = readOutboundWebhook(element, at: hookPath) { webhooks.append(hook) }
            }
        }
        checkUnique(Self.rawIDs(org["outbound_webhooks"]?.arrayValue ?? []), at: { "\(path).outbound_webhooks[\($0)].id" }, what: "outbound webhook id")
        guard let defaultRoute else { return nil }
        return OrganizationConfig(id: id, name: name, pipelines: pipelines, sources: sources, defaultRoute: defaultRoute, outboundWebhooks: webhooks)
    }

    private mutating func readPipeline(_ value: JSONValue, organization: String, at path: String) -> Pipeline? {
        guard let object = object(value, at: path, keys: ["id", "name", "stages"]) else { return nil }
        let id = identifier(object, "id", at: path) ?? ""
        let name = string(object, "name", at: path, default: id) ?? id
        var stages: [Stage] = []
        if let list = array(object, "stages", at: path) {
            if list.isEmpty { issue("\(path).stages", "expected at least one stage") }
            for (index, element) in list.enumerated() {
                let stagePath = "\(path).stages[\(index)]"
                guard let stage = self.object(element, at: stagePath, keys: ["id", "name"]) else { continue }
                let stageID = identifier(stage, "id", at: stagePath) ?? ""
                stages.append(Stage(id: stageID, name: string(stage, "name", at: stagePath, default: stageID) ?? stageID))
            }
        }
        checkUnique(Self.rawIDs(object["stages"]?.arrayValue ?? []), at: { "\(path).stages[\($0)].id" }, what: "stage id")
        return Pipeline(id: id, organization: organization, name: name, stages: stages)
    }

    private mutating func readRoute(_ value: JSONValue, pipelines: [Pipeline], at path: String) -> Route? {
        guard let object = object(value, at: path, keys: ["pipeline", "stage", "priority", "assignee", "tags", "title", "description"]) else { return nil }
        guard let pipelineID = string(object, "pipeline", at: path) else { return nil }
        guard let pipeline = pipelines.first(where: { $0.id == pipelineID }) else {
            issue("\(path).pipeline", "expected one of this organization's pipelines (\(pipelines.map(\.id).joined(separator: ", "))), got \"\(pipelineID)\"")
            return nil
        }
        let stage = string(object, "stage", at: path, default: pipeline.stages.first?.id ?? "") ?? ""
        if !pipeline.stages.contains(where: { $0.id == stage }) {
            issue("\(path).stage", "expected a stage of pipeline \"\(pipelineID)\" (\(pipeline.stages.map(\.id).joined(separator: ", "))), got \"\(stage)\"")
        }
        let priorityText = string(object, "priority", at: path, default: "normal") ?? "normal"
        let priority = Priority(rawValue: priorityText)
        if priority == nil {
            issue("\(path).priority", "expected one of \(Priority.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(priorityText)\"")
        }
        let assignee = string(object, "assignee", at: path, default: nil)
        var tags: [String] = []
        if let list = optionalArray(object, "tags", at: path) {
            for (index, tag) in list.enumerated() {
                if let text = tag.stringValue { tags.append(text) } else { issue("\(path).tags[\(index)]", "expected a string, got \(tag.kindName)") }
            }
        }
        let title = string(object, "title", at: path, default: "{{source}} submission {{intake_id}}") ?? ""
        if title.isEmpty { issue("\(path).title", "expected a non-empty Mustache template") }
        let description = string(object, "description", at: path, default: nil)
        return Route(pipeline: pipelineID, stage: stage, priority: priority ?? .normal, assignee: assignee, tags: tags, titleTemplate: title, descriptionTemplate: description)
    }

    private mutating func readSource(_ value: JSONValue, organization: String, pipelines: [Pipeline], at path: String) -> SourceConfig? {
        if value["type"]?.stringValue == "spool" { return readSpoolSource(value, organization: organization, pipelines: pipelines, at: path) }
        if case .object(let fields) = value, fields["type"]?.stringValue == "imap" {
            return readIMAPSource(value, organization: organization, pipelines: pipelines, at: path)
        }
        guard let object = object(value, at: path, keys: ["id", "type", "auth", "max_body_bytes", "route"]) else { return nil }
        let id = identifier(object, "id", at: path) ?? ""
        let type = string(object, "type", at: path) ?? ""
        if type != "webhook" {
            issue("\(path).type", "expected \"webhook\", \"imap\" or \"spool\", got \"\(type)\"")
        }
        let maxBody = integer(object, "max_body_bytes", at: path, range: 1...(100 << 20), default: 1 << 20)
        var auth: WebhookAuth?
        if let authValue = object["auth"] {
            auth = readAuth(authValue, at: "\(path).auth")
        } else {
            issue("\(path).auth", "missing; expected {\"type\": \"standard-webhooks\" | \"github\" | \"bearer\" | \"none\", ...} (\"none\" must be chosen explicitly)")
        }
        let route = object["route"].flatMap { readRoute($0, pipelines: pipelines, at: "\(path).route") }
        guard let auth else { return nil }
        return SourceConfig(id: id, organization: organization, kind: .webhook, auth: auth, maxBodyBytes: maxBody, route: route)
    }

    private mutating func readIMAPSource(_ value: JSONValue, organization: String, pipelines: [Pipeline], at path: String) -> SourceConfig? {
        let keys: Set<String> = [
            "id", "type", "route", "host", "port", "tls", "ca_file", "allow_insecure", "username", "password", "xoauth2_token",
            "folders", "poll_interval_seconds", "idle", "idle_restart_seconds", "processed", "max_message_bytes",
            "unhealthy_after_seconds", "timeout_seconds", "stream_threshold_bytes",
        ]
        guard let object = object(value, at: path, keys: keys) else { return nil }
        let id = identifier(object, "id", at: path) ?? ""
        let host = string(object, "host", at: path) ?? ""
        if object["host"] != nil && host.isEmpty { issue("\(path).host", "expected a host name or address, got an empty string") }
        let tlsText = string(object, "tls", at: path, default: "implicit") ?? "implicit"
        let tls = IMAPTLSMode(rawValue: tlsText)
        if tls == nil { issue("\(path).tls", "expected one of implicit, starttls, none, got \"\(tlsText)\"") }
        let port = integer(object, "port", at: path, range: 1...65535, default: tls == .implicit ? 993 : 143)
        let caFile = string(object, "ca_file", at: path, default: nil)
        let allowInsecure = bool(object, "allow_insecure", at: path, default: false)
        if tls == IMAPTLSMode.none {
            if !allowInsecure {
                issue("\(path).tls", "\"none\" sends the password in clear text; expected implicit or starttls (or allow_insecure: true with a loopback host, for tests)")
            } else if !host.isEmpty && !IMAPSourceSettings.isLoopback(host) {
                issue("\(path).allow_insecure", "only allowed with a loopback host (127.0.0.1, ::1 or localhost), got \"\(host)\"")
            }
        }
        let username = string(object, "username", at: path) ?? ""
        var credential: IMAPCredential?
        switch (object["password"], object["xoauth2_token"]) {
        case (let password?, nil):
            credential = secretRef(password, at: "\(path).password").map(IMAPCredential.password)
        case (nil, let token?):
            credential = secretRef(token, at: "\(path).xoauth2_token").map(IMAPCredential.xoauth2)
        case (.some, .some):
            issue("\(path).password", "expected either password or xoauth2_token, not both")
        case (nil, nil):
            issue("\(path).password", "missing; expected password or xoauth2_token as {\"env\": NAME}, {\"file\": PATH}, {\"credential\": NAME} or {\"value\": SECRET}")
        }
        var folders: [String] = []
        if let list = optionalArray(object, "folders", at: path) {
            if list.isEmpty { issue("\(path).folders", "expected at least one folder") }
            for (index, element) in list.enumerated() {
                if let text = element.stringValue, !text.isEmpty, !text.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
                    folders.append(text)
                } else {
                    issue("\(path).folders[\(index)]", "expected a non-empty folder name, got \(element.displayText)")
                }
            }
            var seen = Set<String>()
            for (index, folder) in folders.enumerated() where !seen.insert(folder).inserted {
                issue("\(path).folders[\(index)]", "duplicate folder \"\(folder)\"")
            }
        } else {
            folders = ["INBOX"]
        }
        let poll = integer(object, "poll_interval_seconds", at: path, range: 1...86_400, default: 60)
        let idle = bool(object, "idle", at: path, default: true)
        let idleRestart = integer(object, "idle_restart_seconds", at: path, range: 5...1740, default: 1500)
        let maxBytes = integer(object, "max_message_bytes", at: path, range: 1024...(1 << 30), default: 25 << 20)
        let unhealthy = integer(object, "unhealthy_after_seconds", at: path, range: 10...604_800, default: 900)
        let timeout = integer(object, "timeout_seconds", at: path, range: 1...600, default: 30)
        let streamThreshold = integer(object, "stream_threshold_bytes", at: path, range: 1024...(1 << 30), default: 4 << 20)
        let processed = object["processed"].map { readProcessed($0, folders: folders, at: "\(path).processed") } ?? .flag("\\Seen")
        let route = object["route"].flatMap { readRoute($0, pipelines: pipelines, at: "\(path).route") }
        guard let tls, let credential, let processed else { return nil }
        let settings = IMAPSourceSettings(
            host: host, port: port, tls: tls, caFile: caFile, allowInsecure: allowInsecure, username: username,
            credential: credential, folders: folders, pollInterval: TimeInterval(poll), idle: idle,
            idleRestart: TimeInterval(idleRestart), processed: processed, maxMessageBytes: maxBytes,
            unhealthyAfter: TimeInterval(unhealthy), timeout: TimeInterval(timeout), streamThresholdBytes: streamThreshold
        )
        return SourceConfig(id: id, organization: organization, kind: .imap, auth: .none, maxBodyBytes: maxBytes, route: route, imap: settings)
    }

    private mutating func readProcessed(_ value: JSONValue, folders: [String], at path: String) -> IMAPProcessedAction? {
        guard case .object(let fields) = value, let action = fields["action"]?.stringValue else {
            issue("\(path).action", "missing; expected one of flag, move, delete")
            return nil
        }
        switch action {
        case "flag":
            guard let object = object(value, at: path, keys: ["action", "flag"]) else { return nil }
            let flag = string(object, "flag", at: path, default: "\\Seen") ?? "\\Seen"
            let atoms = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789$_-.")
            let name = flag.hasPrefix("\\") ? flag.dropFirst() : flag[...]
            if name.isEmpty || !name.allSatisfy({ atoms.contains($0) }) || flag == "\\Recent" {
                issue("\(path).flag", "expected a system flag (\\Seen, \\Flagged, \\Answered) or a keyword of letters, digits and $_-. (like $Processed), got \"\(flag)\"")
                return nil
            }
            return .flag(flag)
        case "move":
            guard let object = object(value, at: path, keys: ["action", "folder"]) else { return nil }
            guard let folder = string(object, "folder", at: path) else { return nil }
            if folder.isEmpty || folder.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
                issue("\(path).folder", "expected a non-empty folder name")
                return nil
            }
            if folders.contains(folder) {
                issue("\(path).folder", "expected a folder that is not watched by this source, got \"\(folder)\"")
                return nil
            }
            return .move(folder)
        case "delete":
            guard object(value, at: path, keys: ["action"]) != nil else { return nil }
            return .delete
        default:
            issue("\(path).action", "expected one of flag, move, delete, got \"\(action)\"")
            return nil
        }
    }

    /// `type: spool`: a folder taken file by file (docs/mail.md). Paths are checked on disk by the loader.
    private mutating func readSpoolSource(_ value: JSONValue, organization: String, pipelines: [Pipeline], at path: String) -> SourceConfig? {
        guard let object = object(value, at: path, keys: ["id", "type", "path", "poll_interval_ms", "done_dir", "failed_dir", "max_message_bytes", "route"]) else { return nil }
        let id = identifier(object, "id", at: path) ?? ""
        let folder = string(object, "path", at: path) ?? ""
        if object["path"]?.stringValue == "" { issue("\(path).path", "expected a directory path, got an empty string") }
        let pollMs = integer(object, "poll_interval_ms", at: path, range: 10...3_600_000, default: 1000)
        let done = string(object, "done_dir", at: path, default: nil)
        let failed = string(object, "failed_dir", at: path, default: nil)
        for (key, dir) in [("done_dir", done), ("failed_dir", failed)] {
            guard let dir else { continue }
            if dir.isEmpty {
                issue("\(path).\(key)", "expected a directory path, got an empty string")
            } else if Self.samePath(dir, folder) {
                issue("\(path).\(key)", "expected a directory other than path (\"\(folder)\"): files there would be taken again, got \"\(dir)\"")
            }
        }
        if let done, let failed, !done.isEmpty, Self.samePath(done, failed) {
            issue("\(path).failed_dir", "expected a directory other than done_dir, got \"\(failed)\"")
        }
        let maxBytes = integer(object, "max_message_bytes", at: path, range: 1...(1 << 30), default: MailConfig().maxMessageBytes)
        let route = object["route"].flatMap { readRoute($0, pipelines: pipelines, at: "\(path).route") }
        guard !folder.isEmpty else { return nil }
        var source = SourceConfig(id: id, organization: organization, kind: .spool, auth: .none, maxBodyBytes: maxBytes, route: route)
        source.spool = SpoolConfig(path: folder, pollInterval: Double(pollMs) / 1000, doneDir: done, failedDir: failed, maxMessageBytes: maxBytes)
        return source
    }

    /// Keys an outbound webhook's `headers` may not set: the signature, framing and Host are ours.
    static let reservedOutboundHeaders: Set<String> = ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host", "transfer-encoding", "connection"]

    private mutating func readOutboundWebhook(_ element: JSONValue, at hookPath: String) -> OutboundWebhook? {
        guard let hook = object(element, at: hookPath, keys: ["id", "url", "secret", "timeout_seconds", "max_attempts", "headers", "allow_private", "allow_insecure"]) else { return nil }
        let hookID = identifier(hook, "id", at: hookPath) ?? ""
        let url = string(hook, "url", at: hookPath) ?? ""
        let allowInsecure = bool(hook, "allow_insecure", at: hookPath, default: false)
        if hook["url"]?.stringValue != nil {
            if !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
                issue("\(hookPath).url", "expected an http:// or https:// URL, got \"\(url)\"")
            } else if let problem = Self.outboundURLProblem(url, allowInsecure: allowInsecure) {
                issue("\(hookPath).url", problem)
            }
        }
        let secret = hook["secret"].flatMap { secretRef($0, at: "\(hookPath).secret") }
        let timeout = number(hook, "timeout_seconds", at: hookPath, range: 0.1...300, default: 10)
        let maxAttempts = integer(hook, "max_attempts", at: hookPath, range: 1...100, default: 8)
        var headers: [OutboundHeader] = []
        if let value = hook["headers"] {
            if case .object(let fields) = value {
                for name in fields.keys.sorted() {
                    let headerPath = "\(hookPath).headers.\(name)"
                    let token = Set("!#$%&'*+-.^_`|~abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                    if name.isEmpty || !name.allSatisfy({ token.contains($0) }) {
                        issue(headerPath, "expected an HTTP header name (RFC 9110 token characters)")
                        continue
                    }
                    if Self.reservedOutboundHeaders.contains(name.lowercased()) {
                        issue(headerPath, "expected a header the sender does not set itself; \(name) is set by astralisd")
                        continue
                    }
                    switch fields[name] {
                    case .string(let text)?:
                        if text.contains(where: { $0 == "\r" || $0 == "\n" }) {
                            issue(headerPath, "expected a header value without line breaks")
                        } else {
                            headers.append(OutboundHeader(name: name, value: .value(text)))
                        }
                    case let other?:
                        if let ref = secretRef(other, at: headerPath) { headers.append(OutboundHeader(name: name, value: ref)) }
                    case nil:
                        break
                    }
                }
            } else {
                issue("\(hookPath).headers", "expected an object of header names to strings or secret references, got \(value.kindName)")
            }
        }
        return OutboundWebhook(
            id: hookID, url: url, secret: secret, timeout: timeout, maxAttempts: maxAttempts, headers: headers,
            allowPrivate: bool(hook, "allow_private", at: hookPath, default: false), allowInsecure: allowInsecure)
    }

    /// Why an outbound webhook URL cannot be used, or nil. Only http(s) with a host; no user
    /// information (credentials in a URL end up in logs: use `headers`); http only with `allow_insecure`.
    public static func outboundURLProblem(_ url: String, allowInsecure: Bool) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return "expected an absolute http:// or https:// URL, got \"\(url)\""
        }
        guard let host = components.host, !host.isEmpty else {
            return "expected a URL with a host name or address, got \"\(url)\""
        }
        if components.user != nil || components.password != nil {
            return "expected a URL without user information (put credentials in headers)"
        }
        if components.fragment != nil {
            return "expected a URL without a #fragment"
        }
        if scheme == "http" && !allowInsecure {
            return "expected an https:// URL (plain http needs \"allow_insecure\": true), got \"\(url)\""
        }
        return nil
    }

    static func samePath(_ a: String, _ b: String) -> Bool {
        func normal(_ p: String) -> String { (p as NSString).standardizingPath }
        return normal(a) == normal(b)
    }

    private mutating func readAuth(_ value: JSONValue, at path: String) -> WebhookAuth? {
        guard case .object(let fields) = value, let type = fields["type"]?.stringValue else {
            issue("\(path).type", "missing; expected one of standard-webhooks, github, bearer, none")
            return nil
        }
        let allowed: [String: Set<String>] = [
            "none": ["type"], "standard-webhooks": ["type", "secrets", "tolerance_seconds"],
            "github": ["type", "secrets"], "bearer": ["type", "tokens"],
        ]
        guard let keys = allowed[type] else {
            // Other keys cannot be judged without knowing the scheme: report the type alone.
            issue("\(path).type", "expected one of standard-webhooks, github, bearer, none, got \"\(type)\"")
            return nil
        }
        guard let object = object(value, at: path, keys: keys) else { return nil }
        switch type {
        case "none":
            return WebhookAuth.none
        case "standard-webhooks":
            let secrets = secretList(object, "secrets", at: path)
            let tolerance = integer(object, "tolerance_seconds", at: path, range: 1...86_400, default: 300)
            return .standardWebhooks(secrets: secrets, toleranceSeconds: tolerance)
        case "github":
            return .github(secrets: secretList(object, "secrets", at: path))
        case "bearer":
            return .bearer(tokens: secretList(object, "tokens", at: path))
        default:
            issue("\(path).type", "expected one of standard-webhooks, github, bearer, none, got \"\(type)\"")
            return nil
        }
    }

    private mutating func secretList(_ object: [String: JSONValue], _ key: String, at path: String) -> [SecretRef] {
        guard let list = array(object, key, at: path) else { return [] }
        if list.isEmpty { issue("\(path).\(key)", "expected at least one secret reference") }
        var refs: [SecretRef] = []
        for (index, element) in list.enumerated() {
            if let ref = secretRef(element, at: "\(path).\(key)[\(index)]") { refs.append(ref) }
        }
        return refs
    }

    private mutating func secretRef(_ element: JSONValue, at elementPath: String) -> SecretRef? {
        guard let ref = self.object(element, at: elementPath, keys: ["env", "file", "credential", "value"]) else { return nil }
        guard ref.count == 1, let (kind, raw) = ref.first, let text = raw.stringValue, !text.isEmpty else {
            issue(elementPath, "expected exactly one of {\"env\": NAME}, {\"file\": PATH}, {\"credential\": NAME}, {\"value\": SECRET} with a non-empty string")
            return nil
        }
        switch kind {
        case "env": return .env(text)
        case "file": return .file(text)
        case "credential": return .credential(text)
        default: return .value(text)
        }
    }

    // MARK: - Typed readers that record issues

    private mutating func issue(_ path: String, _ message: String) {
        issues.append(ConfigIssue(path: path, message: message))
    }

    private func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }


    private mutating func object(_ value: JSONValue, at path: String, keys: Set<String>) -> [String: JSONValue]? {
        guard case .object(let dict) = value else {
            issue(path, "expected an object, got \(value.kindName)")
            return nil
        }
        for key in dict.keys.sorted() where !keys.contains(key) {
            issue(join(path, key), "unknown key; expected one of \(keys.sorted().joined(separator: ", "))")
        }
        return dict
    }

    private mutating func optionalObject(_ parent: [String: JSONValue], _ key: String, at path: String, keys: Set<String>) -> [String: JSONValue]? {
        guard let value = parent[key] else { return [:] }
        return object(value, at: join(path, key), keys: keys)
    }

    private mutating func array(_ parent: [String: JSONValue], _ key: String, at path: String) -> [JSONValue]? {
        guard let value = parent[key] else {
            issue(join(path, key), "missing; expected an array")
            return nil
        }
        guard case .array(let list) = value else {
            issue(join(path, key), "expected an array, got \(value.kindName)")
            return nil
        }
        return list
    }

    private mutating func optionalArray(_ parent: [String: JSONValue], _ key: String, at path: String) -> [JSONValue]? {
        guard parent[key] != nil else { return nil }
        return array(parent, key, at: path)
    }

    /// A required string when `default` is not given (pass `default: nil` for optional strings).
    private mutating func string(_ parent: [String: JSONValue]?, _ key: String, at path: String) -> String? {
        guard let value = parent?[key] else {
            if parent != nil { issue(join(path, key), "missing; expected a string") }
            return nil
        }
        guard case .string(let text) = value else {
            issue(join(path, key), "expected a string, got \(value.kindName)")
            return nil
        }
        return text
    }

    /// An optional string: absent or `null` gives `fallback`.
    private mutating func string(_ parent: [String: JSONValue]?, _ key: String, at path: String, default fallback: String?) -> String? {
        guard let value = parent?[key], value != .null else { return fallback }
        guard case .string(let text) = value else {
            issue(join(path, key), "expected a string, got \(value.kindName)")
            return fallback
        }
        return text
    }

    private mutating func identifier(_ parent: [String: JSONValue], _ key: String, at path: String) -> String? {
        guard let text = string(parent, key, at: path) else { return nil }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_")
        if text.isEmpty || text.count > 64 || !text.allSatisfy({ allowed.contains($0) }) || text.first == "-" || text.first == "_" {
            issue(join(path, key), "expected 1-64 characters of a-z, 0-9, '-' or '_' starting with a letter or digit, got \"\(text)\"")
        }
        return text
    }

    private mutating func integer(_ parent: [String: JSONValue]?, _ key: String, at path: String, range: ClosedRange<Int>, default fallback: Int) -> Int {
        guard let value = parent?[key] else { return fallback }
        guard case .number(let number) = value, number.rounded() == number, let int = Int(exactly: number) else {
            issue(join(path, key), "expected an integer in \(range.lowerBound)...\(range.upperBound), got \(value.displayText)")
            return fallback
        }
        guard range.contains(int) else {
            issue(join(path, key), "expected an integer in \(range.lowerBound)...\(range.upperBound), got \(int)")
            return fallback
        }
        return int
    }

    private mutating func bool(_ parent: [String: JSONValue]?, _ key: String, at path: String, default fallback: Bool) -> Bool {
        guard let value = parent?[key] else { return fallback }
        guard case .bool(let flag) = value else {
            issue(join(path, key), "expected true or false, got \(value.displayText)")
            return fallback
        }
        return flag
    }

    private mutating func number(_ parent: [String: JSONValue]?, _ key: String, at path: String, range: ClosedRange<Double>, default fallback: Double) -> Double {
        guard let value = parent?[key] else { return fallback }
        guard case .number(let number) = value, range.contains(number) else {
            issue(join(path, key), "expected a number in \(range.lowerBound)...\(range.upperBound), got \(value.displayText)")
            return fallback
        }
        return number
    }

    private mutating func address(_ parent: [String: JSONValue]?, _ key: String, at path: String, default fallback: ListenAddress) -> ListenAddress? {
        guard let value = parent?[key] else { return fallback }
        let fullPath = join(path, key)
        guard case .string(let text) = value else {
            issue(fullPath, "expected \"host:port\", got \(value.kindName)")
            return nil
        }
        guard let parsed = Self.parseAddress(text) else {
            issue(fullPath, "expected \"host:port\" with a port in 1...65535 (IPv6 as \"[::1]:9090\"), got \"\(text)\"")
            return nil
        }
        return parsed
    }

    /// Parses `host:port` or `[v6]:port`.
    public static func parseAddress(_ text: String) -> ListenAddress? {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else { return nil }
        return ListenAddress(host: String(host), port: port)
    }

    /// `(index, id)` of the elements of a JSON array that have a string `id`.
    static func rawIDs(_ list: [JSONValue]) -> [(Int, String)] {
        list.enumerated().compactMap { index, element in element["id"]?.stringValue.map { (index, $0) } }
    }

    private mutating func checkUnique(_ ids: [(Int, String)], at path: (Int) -> String, what: String) {
        var seen = Set<String>()
        for (index, id) in ids where !id.isEmpty {
            if !seen.insert(id).inserted { issue(path(index), "duplicate \(what) \"\(id)\"") }
        }
    }
}

// MARK: - Scheduling

extension ConfigParser {
    static let weekdayKeys = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// `scheduling`: calendars by name and reminder offsets (docs/scheduling.md). Durations are
    /// ISO 8601 strings everywhere (`PT15M`, `P1D`).
    fileprivate mutating func readScheduling(_ top: [String: JSONValue], config: DaemonConfig) -> SchedulingConfig {
        let path = "scheduling"
        guard let section = optionalObject(top, "scheduling", at: "", keys: ["calendars", "reminder_offsets"]) else { return SchedulingConfig() }
        var result = SchedulingConfig()
        if let offsets = durationList(section, "reminder_offsets", at: path, range: 60...(90 * 86_400)) { result.reminderOffsets = offsets }
        guard let value = section["calendars"] else { return result }
        guard case .object(let calendars) = value else {
            issue("\(path).calendars", "expected an object of calendars by name, got \(value.kindName)")
            return result
        }
        let organizations = Set(config.organizations.map(\.id))
        let accounts = Set(config.smtpAccounts.map(\.id))
        for name in calendars.keys.sorted() {
            guard let calendarValue = calendars[name] else { continue }
            let calendarPath = "\(path).calendars.\(name)"
            let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_")
            if name.isEmpty || name.count > 64 || !name.allSatisfy({ allowed.contains($0) }) || name.first == "-" || name.first == "_" {
                issue(calendarPath, "calendar names are 1-64 characters of a-z, 0-9, '-' or '_' starting with a letter or digit")
            }
            if let calendar = readCalendar(calendarValue, name: name, at: calendarPath, organizations: organizations, accounts: accounts) {
                result.calendars[name] = calendar
            }
        }
        return result
    }

    private mutating func readCalendar(_ value: JSONValue, name: String, at path: String, organizations: Set<String>, accounts: Set<String>) -> CalendarConfig? {
        let keys: Set<String> = [
            "organization", "hosts", "assignment", "slot_interval", "booking_window", "durations", "organizer",
            "smtp_account", "reminder_offsets",
        ]
        guard let object = object(value, at: path, keys: keys) else { return nil }
        let organization = string(object, "organization", at: path) ?? ""
        if object["organization"]?.stringValue != nil, !organizations.contains(organization) {
            issue("\(path).organization", "unknown organization \"\(organization)\"; expected one of organizations[].id (\(organizations.sorted().joined(separator: ", ")))")
        }
        let assignmentText = string(object, "assignment", at: path, default: "intersection") ?? "intersection"
        let assignment = HostAssignment(rawValue: assignmentText)
        if assignment == nil { issue("\(path).assignment", "expected intersection or round_robin, got \"\(assignmentText)\"") }
        let defaults = CalendarConfig(name: name, organization: organization, hosts: [])
        let interval = duration(object, "slot_interval", at: path, range: 60...86_400, default: defaults.slotInterval)
        if Int(interval) % 60 != 0 { issue("\(path).slot_interval", "expected whole minutes, got \(ISODuration.format(interval))") }
        let window = duration(object, "booking_window", at: path, range: 3_600...(366 * 86_400), default: defaults.bookingWindow)
        let durations = durationList(object, "durations", at: path, range: 60...(24 * 3_600)) ?? defaults.durations
        if object["durations"]?.arrayValue?.isEmpty == true { issue("\(path).durations", "expected at least one meeting length") }
        var organizer: CalendarAttendee?
        if let value = object["organizer"], let fields = self.object(value, at: "\(path).organizer", keys: ["email", "name"]) {
            let email = string(fields, "email", at: "\(path).organizer") ?? ""
            if fields["email"]?.stringValue != nil, !Self.isAddrSpec(email) { issue("\(path).organizer.email", "expected an address such as team@example.com, got \"\(email)\"") }
            organizer = CalendarAttendee(email: email, name: string(fields, "name", at: "\(path).organizer", default: nil), role: .chair, status: .accepted, rsvp: false)
        }
        let account = string(object, "smtp_account", at: path, default: nil)
        if let account, !accounts.contains(account) {
            issue("\(path).smtp_account", "unknown SMTP account \"\(account)\"; expected one of smtp_accounts[].id (\(accounts.sorted().joined(separator: ", ")))")
        }
        let reminders = durationList(object, "reminder_offsets", at: path, range: 60...(90 * 86_400))
        var hosts: [CalendarHost] = []
        if let list = array(object, "hosts", at: path) {
            if list.isEmpty { issue("\(path).hosts", "expected at least one host") }
            for (index, element) in list.enumerated() {
                if let host = readHost(element, at: "\(path).hosts[\(index)]") { hosts.append(host) }
            }
            let names = list.enumerated().compactMap { index, element in element["name"]?.stringValue.map { (index, $0) } }
            checkUnique(names, at: { "\(path).hosts[\($0)].name" }, what: "host name")
        }
        guard let assignment else { return nil }
        return CalendarConfig(
            name: name, organization: organization, hosts: hosts, assignment: assignment, slotInterval: interval, bookingWindow: window,
            durations: durations, organizer: organizer, smtpAccount: account, reminderOffsets: reminders)
    }

    private mutating func readHost(_ value: JSONValue, at path: String) -> CalendarHost? {
        let keys: Set<String> = [
            "name", "email", "display_name", "time_zone", "working_hours", "overrides", "buffer_before", "buffer_after",
            "minimum_notice", "max_per_day", "max_per_week", "provider",
        ]
        guard let object = object(value, at: path, keys: keys) else { return nil }
        let name = identifier(object, "name", at: path) ?? ""
        let email = string(object, "email", at: path) ?? ""
        if object["email"]?.stringValue != nil, !Self.isAddrSpec(email) { issue("\(path).email", "expected an address such as ada@example.com, got \"\(email)\"") }
        let displayName = string(object, "display_name", at: path, default: nil)
        if let displayName, displayName.contains(where: { $0 == "\r" || $0 == "\n" }) { issue("\(path).display_name", "expected one line of text") }
        let zone = string(object, "time_zone", at: path) ?? ""
        if object["time_zone"]?.stringValue != nil, TimeZone(identifier: zone) == nil {
            issue("\(path).time_zone", "expected an IANA time zone such as Europe/Berlin or America/New_York, got \"\(zone)\"")
        }
        var weekly: [Int: [LocalTimeRange]] = [:]
        if let hours = optionalObject(object, "working_hours", at: path, keys: Set(Self.weekdayKeys)) {
            if object["working_hours"] == nil { issue("\(path).working_hours", "missing; expected an object such as {\"mon\": [\"09:00-17:00\"]}") }
            for (index, key) in Self.weekdayKeys.enumerated() {
                guard let list = optionalArray(hours, key, at: "\(path).working_hours") else { continue }
                weekly[index + 1] = timeRanges(list, at: "\(path).working_hours.\(key)")
            }
        }
        var overrides: [AvailabilityOverride] = []
        if let list = optionalArray(object, "overrides", at: path) {
            var seen = Set<String>()
            for (index, element) in list.enumerated() {
                let elementPath = "\(path).overrides[\(index)]"
                guard let fields = self.object(element, at: elementPath, keys: ["date", "hours"]) else { continue }
                let text = string(fields, "date", at: elementPath) ?? ""
                let ranges = array(fields, "hours", at: elementPath).map { timeRanges($0, at: "\(elementPath).hours") } ?? []
                guard fields["date"]?.stringValue != nil else { continue }
                guard let date = Self.localDate(text) else {
                    issue("\(elementPath).date", "expected a date such as 2026-12-24, got \"\(text)\"")
                    continue
                }
                if !seen.insert(text).inserted { issue("\(elementPath).date", "duplicate override for \(text)") }
                overrides.append(AvailabilityOverride(year: date.year, month: date.month, day: date.day, hours: ranges))
            }
        }
        let bufferBefore = duration(object, "buffer_before", at: path, range: 0...86_400, default: 0)
        let bufferAfter = duration(object, "buffer_after", at: path, range: 0...86_400, default: 0)
        let notice = duration(object, "minimum_notice", at: path, range: 0...(90 * 86_400), default: 0)
        let maxPerDay = object["max_per_day"].map { _ in integer(object, "max_per_day", at: path, range: 1...1_000, default: 1) }
        let maxPerWeek = object["max_per_week"].map { _ in integer(object, "max_per_week", at: path, range: 1...10_000, default: 1) }
        var provider = CalendarProviderConfig.local
        if let value = object["provider"] {
            provider = readProvider(value, at: "\(path).provider") ?? .local
        }
        return CalendarHost(
            name: name, email: email, displayName: displayName, provider: provider, timeZone: zone, weeklyHours: weekly,
            overrides: overrides, bufferBefore: bufferBefore, bufferAfter: bufferAfter, minimumNotice: notice,
            maxPerDay: maxPerDay, maxPerWeek: maxPerWeek)
    }

    private mutating func readProvider(_ value: JSONValue, at path: String) -> CalendarProviderConfig? {
        guard case .object(let fields) = value else {
            issue(path, "expected an object such as {\"type\": \"local\"}, got \(value.kindName)")
            return nil
        }
        let type = fields["type"]?.stringValue
        switch type {
        case "local":
            _ = object(value, at: path, keys: ["type"])
            return .local
        case "caldav":
            guard let object = object(value, at: path, keys: ["type", "url", "username", "password", "allow_plaintext", "timeout_seconds"]) else { return nil }
            let url = string(object, "url", at: path) ?? ""
            let plaintext = bool(object, "allow_plaintext", at: path, default: false)
            if object["url"]?.stringValue != nil {
                if let problem = Self.calendarURLProblem(url, allowPlaintext: plaintext) { issue("\(path).url", problem) }
            }
            let username = string(object, "username", at: path) ?? ""
            var password: SecretRef?
            if let value = object["password"] {
                password = secretRef(value, at: "\(path).password")
            } else {
                issue("\(path).password", "missing; expected {\"env\": NAME}, {\"file\": PATH}, {\"credential\": NAME} or {\"value\": SECRET}")
            }
            let timeout = number(object, "timeout_seconds", at: path, range: 1...600, default: 30)
            guard let password else { return nil }
            return .caldav(CalDAVConfig(url: url, username: username, password: password, allowPlaintext: plaintext, timeoutSeconds: timeout))
        case "google":
            let keys: Set<String> = [
                "type", "calendar_id", "client_id", "client_secret", "refresh_token", "token_url", "api_base_url", "send_updates",
                "meet_link", "timeout_seconds",
            ]
            guard let object = object(value, at: path, keys: keys) else { return nil }
            let defaults = GoogleCalendarConfig(clientID: "", clientSecret: .value("-"), refreshToken: .value("-"))
            let calendarID = string(object, "calendar_id", at: path, default: defaults.calendarID) ?? defaults.calendarID
            if calendarID.isEmpty { issue("\(path).calendar_id", "expected primary or a calendar id, got an empty string") }
            let clientID = string(object, "client_id", at: path) ?? ""
            if object["client_id"]?.stringValue != nil, clientID.isEmpty { issue("\(path).client_id", "expected the OAuth client id, got an empty string") }
            var secrets: [SecretRef] = []
            for key in ["client_secret", "refresh_token"] {
                if let value = object[key] {
                    if let ref = secretRef(value, at: "\(path).\(key)") { secrets.append(ref) }
                } else {
                    issue("\(path).\(key)", "missing; expected {\"env\": NAME}, {\"file\": PATH}, {\"credential\": NAME} or {\"value\": SECRET}")
                }
            }
            var urls: [String] = []
            for (key, fallback) in [("token_url", defaults.tokenURL), ("api_base_url", defaults.apiBaseURL)] {
                let url = string(object, key, at: path, default: fallback) ?? fallback
                // The stand-in servers of the tests listen on loopback over http.
                if let problem = Self.calendarURLProblem(url, allowPlaintext: true) { issue("\(path).\(key)", problem) }
                urls.append(url)
            }
            let sendUpdates = string(object, "send_updates", at: path, default: defaults.sendUpdates) ?? defaults.sendUpdates
            if !["all", "externalOnly", "none"].contains(sendUpdates) { issue("\(path).send_updates", "expected all, externalOnly or none, got \"\(sendUpdates)\"") }
            let meet = bool(object, "meet_link", at: path, default: false)
            let timeout = number(object, "timeout_seconds", at: path, range: 1...600, default: 30)
            guard secrets.count == 2 else { return nil }
            return .google(GoogleCalendarConfig(
                calendarID: calendarID, clientID: clientID, clientSecret: secrets[0], refreshToken: secrets[1], tokenURL: urls[0],
                apiBaseURL: urls[1], sendUpdates: sendUpdates, meetLink: meet, timeoutSeconds: timeout))
        default:
            issue("\(path).type", "expected local, caldav or google, got \(fields["type"]?.displayText ?? "nothing")")
            return nil
        }
    }

    /// `https://` (or `http://` to a loopback host when allowed).
    static func calendarURLProblem(_ url: String, allowPlaintext: Bool) -> String? {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), let host = parsed.host, !host.isEmpty else {
            return "expected an https:// URL, got \"\(url)\""
        }
        if scheme == "https" { return nil }
        guard scheme == "http" else { return "expected an https:// URL, got \"\(url)\"" }
        guard allowPlaintext, IMAPSourceSettings.isLoopback(host) else {
            return "http:// sends credentials in clear text; expected https:// (http:// only to a loopback host with allow_plaintext: true), got \"\(url)\""
        }
        return nil
    }

    /// `2026-12-24` as a valid calendar date.
    public static func localDate(_ text: String) -> (year: Int, month: Int, day: Int)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), day >= 1 else { return nil }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= lengths[month - 1] ? (year, month, day) : nil
    }

    /// `09:00-17:30` (end may be `24:00`).
    static func timeRange(_ text: String) -> LocalTimeRange? {
        func minutes(_ part: Substring) -> Int? {
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            guard pieces.count == 2, pieces[0].count == 2, pieces[1].count == 2,
                  let hour = Int(pieces[0]), let minute = Int(pieces[1]), (0...24).contains(hour), (0...59).contains(minute) else { return nil }
            let total = hour * 60 + minute
            return total <= 1_440 ? total : nil
        }
        let halves = text.split(separator: "-", omittingEmptySubsequences: false)
        guard halves.count == 2, let start = minutes(halves[0]), let end = minutes(halves[1]), start < end, start < 1_440 else { return nil }
        return LocalTimeRange(startMinute: start, endMinute: end)
    }

    private mutating func timeRanges(_ list: [JSONValue], at path: String) -> [LocalTimeRange] {
        var ranges: [LocalTimeRange] = []
        for (index, element) in list.enumerated() {
            guard let text = element.stringValue, let range = Self.timeRange(text) else {
                issue("\(path)[\(index)]", "expected a time range such as \"09:00-12:30\" (24-hour, start before end), got \(element.displayText)")
                continue
            }
            ranges.append(range)
        }
        let sorted = ranges.sorted { $0.startMinute < $1.startMinute }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where next.startMinute < previous.endMinute {
            issue(path, "time ranges overlap (\(Self.clock(previous.startMinute))-\(Self.clock(previous.endMinute)) and \(Self.clock(next.startMinute))-\(Self.clock(next.endMinute)))")
        }
        return sorted
    }

    static func clock(_ minute: Int) -> String {
        let hour = minute / 60
        let rest = minute % 60
        return (hour < 10 ? "0" : "") + "\(hour):" + (rest < 10 ? "0" : "") + "\(rest)"
    }

    /// An ISO 8601 duration string in `range` seconds.
    private mutating func duration(_ parent: [String: JSONValue], _ key: String, at path: String, range: ClosedRange<Double>, default fallback: Double) -> Double {
        guard let value = parent[key] else { return fallback }
        return durationValue(value, at: join(path, key), range: range) ?? fallback
    }

    private mutating func durationValue(_ value: JSONValue, at path: String, range: ClosedRange<Double>) -> Double? {
        guard let text = value.stringValue, let seconds = ISODuration.parse(text) else {
            issue(path, "expected an ISO 8601 duration such as \"PT15M\", \"PT1H30M\" or \"P1D\", got \(value.displayText)")
            return nil
        }
        guard range.contains(seconds) else {
            issue(path, "expected a duration from \(ISODuration.format(range.lowerBound)) to \(ISODuration.format(range.upperBound)), got \(text)")
            return nil
        }
        return seconds
    }

    private mutating func durationList(_ parent: [String: JSONValue], _ key: String, at path: String, range: ClosedRange<Double>) -> [Double]? {
        guard let list = optionalArray(parent, key, at: path) else { return nil }
        var result: [Double] = []
        for (index, element) in list.enumerated() {
            if let seconds = durationValue(element, at: "\(join(path, key))[\(index)]", range: range) {
                if result.contains(seconds) {
                    issue("\(join(path, key))[\(index)]", "duplicate duration \(ISODuration.format(seconds))")
                } else {
                    result.append(seconds)
                }
            }
        }
        return result
    }
}

extension ConfigParser {
    /// The `documents` section of the config file at `path` (nil: the defaults), for the
    /// extraction tools, which need only that section.
    public static func documents(configFile path: String?, environment: [String: String]) throws(ConfigError) -> DocumentsConfig {
        guard let path else { return DocumentsConfig() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(source: path, issues: [ConfigIssue(path: "", message: "cannot read the file")])
        }
        return try parse(data, sourceName: path, environment: environment).documents
    }
}
