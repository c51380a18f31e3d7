public import Foundation

/// Where a secret comes from. Secrets are never written into logs or error messages.
public enum SecretRef: Sendable, Equatable, CustomStringConvertible {
    /// An environment variable.
    case env(String)
    /// A file whose contents (trailing newline trimmed) are the secret.
    case file(String)
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/NAME` (`LoadCredential=`).
    case credential(String)
    /// The secret written inline in the config file (fine for tests, discouraged in production).
    case value(String)

    /// Names the reference without revealing the secret.
    public var description: String {
        switch self {
        case .env(let name): return "env:\(name)"
        case .file(let path): return "file:\(path)"
        case .credential(let name): return "credential:\(name)"
        case .value: return "inline value"
        }
    }
}

/// `host:port` for a listener.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// How a webhook source proves who is calling.
public enum WebhookAuth: Sendable, Equatable {
    /// No authentication: only when the config says so (a public contact form).
    case none
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`.
    /// Several secrets may be listed while one is being rotated.
    case standardWebhooks(secrets: [SecretRef], toleranceSeconds: Int)
    /// GitHub-style `X-Hub-Signature-256: sha256=<hex>` over the raw body.
    case github(secrets: [SecretRef])
    /// `Authorization: Bearer <token>`; any listed token is accepted.
    case bearer(tokens: [SecretRef])

    public var scheme: String {
        switch self {
        case .none: return "none"
        case .standardWebhooks: return "standard-webhooks"
        case .github: return "github"
        case .bearer: return "bearer"
        }
    }
}

/// One configured source: a webhook (`POST /hooks/{id}`) or an IMAP account (`imap` set).
public struct SourceConfig: Sendable, Equatable {
    public var id: String
    public var organization: String
    public var kind: SourceKind
    /// Webhook authentication; `.none` and unused for IMAP sources (they are never webhook endpoints).
    public var auth: WebhookAuth
    public var maxBodyBytes: Int
    /// Overrides the organization's default route for intakes from this source.
    public var route: Route?
    /// The account and folders of an IMAP source; nil for webhooks.
    public var imap: IMAPSourceSettings?
    /// The folder of a `spool` source (kind `.spool`); nil for every other kind.
    public var spool: SpoolConfig?

    public init(id: String, organization: String, kind: SourceKind = .webhook, auth: WebhookAuth, maxBodyBytes: Int, route: Route?, imap: IMAPSourceSettings? = nil) {
        self.id = id
        self.organization = organization
        self.kind = kind
        self.auth = auth
        self.maxBodyBytes = maxBodyBytes
        self.route = route
        self.imap = imap
    }
}

/// A receiver of forwarded intakes (`forward` in the rules names it by id). Deliveries are signed
/// the Standard Webhooks way when `secret` is set; see docs/webhooks.md ("Outbound webhooks").
public struct OutboundWebhook: Sendable, Equatable {
    public var id: String
    public var url: String
    /// Standard Webhooks signing secret, `whsec_<base64 key>`; nil: deliveries are not signed.
    public var secret: SecretRef?
    /// Longest one delivery attempt may take (connect, send, answer).
    public var timeout: TimeInterval
    /// Attempts before a delivery is dead-lettered (408, 429, 5xx, timeouts and connection errors retry).
    public var maxAttempts: Int
    /// Extra request headers, in name order; values may be secrets (an `Authorization` token).
    public var headers: [OutboundHeader]
    /// SSRF opt-out: allow destinations in loopback, private, link-local and similar ranges.
    public var allowPrivate: Bool
    /// Allow a plain `http://` URL (default: https only).
    public var allowInsecure: Bool

    public init(id: String, url: String, secret: SecretRef? = nil, timeout: TimeInterval = 10, maxAttempts: Int = 8, headers: [OutboundHeader] = [], allowPrivate: Bool = false, allowInsecure: Bool = false) {
        self.id = id
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.maxAttempts = maxAttempts
        self.headers = headers
        self.allowPrivate = allowPrivate
        self.allowInsecure = allowInsecure
    }
}

/// One extra header of an outbound webhook; the value is read like any secret.
public struct OutboundHeader: Sendable, Equatable {
    public var name: String
    public var value: SecretRef

    public init(name: String, value: SecretRef) {
        self.name = name
        self.value = value
    }
}

/// A spool folder: writers drop complete message files into `path`; the daemon takes each one,
/// makes it an intake and moves it to `doneDir` (or `failedDir` with a `.reason` file).
public struct SpoolConfig: Sendable, Equatable {
    /// The folder watched. Relative paths are resolved against the state directory at load time.
    public var path: String
    /// How often the folder listing is read.
    public var pollInterval: TimeInterval
    /// Where taken files go once their intake is durable (default `<path>/done`).
    public var doneDir: String
    /// Where files that cannot be taken go, each with a `<name>.reason` (default `<path>/failed`).
    public var failedDir: String
    /// Larger files are not read; they go to `failedDir`.
    public var maxMessageBytes: Int

    public init(path: String, pollInterval: TimeInterval = 1, doneDir: String? = nil, failedDir: String? = nil, maxMessageBytes: Int = MailConfig().maxMessageBytes) {
        self.path = path
        self.pollInterval = pollInterval
        self.doneDir = doneDir ?? path + "/done"
        self.failedDir = failedDir ?? path + "/failed"
        self.maxMessageBytes = maxMessageBytes
    }
}

/// The `mail` section: limits for every message parsed (`Mail.MailLimits`, same defaults).
public struct MailConfig: Sendable, Equatable {
    public var maxMessageBytes: Int
    public var maxParts: Int
    public var maxDepth: Int

    public init(maxMessageBytes: Int = 50 * 1024 * 1024, maxParts: Int = 1000, maxDepth: Int = 32) {
        self.maxMessageBytes = maxMessageBytes
        self.maxParts = maxParts
        self.maxDepth = maxDepth
    }
}

public struct OrganizationConfig: Sendable, Equatable {
    public var id: String
    public var name: String
    public var pipelines: [Pipeline]
    public var sources: [SourceConfig]
    public var defaultRoute: Route
    public var outboundWebhooks: [OutboundWebhook]
    /// The `smtp_accounts[]` id automatic replies of this organization go out through; nil: rules
    /// may not ask for replies.
    public var replyAccount: String?

    public init(id: String, name: String, pipelines: [Pipeline], sources: [SourceConfig], defaultRoute: Route, outboundWebhooks: [OutboundWebhook] = []) {
        self.id = id
        self.name = name
        self.pipelines = pipelines
        self.sources = sources
        self.defaultRoute = defaultRoute
        self.outboundWebhooks = outboundWebhooks
    }
}

public struct WorkerConfig: Sendable, Equatable {
    /// Jobs run at once.
    public var concurrency: Int
    /// Jobs started at once while the webhook listener is busy (``IntakeLoad``): a burst of
    /// webhooks is answered first and its processing follows. At most `concurrency`; 0 pauses
    /// processing, for at most `maxBurstPause` at a stretch.
    public var burstConcurrency: Int
    /// The longest processing stays paused in one burst (when `burstConcurrency` is 0); after
    /// it, one job at a time runs until the listener is calm.
    public var maxBurstPause: TimeInterval
    /// How often an idle worker looks for due jobs (new local jobs wake it at once).
    public var pollInterval: TimeInterval
    /// How long a leased job is reserved before another worker may reclaim it.
    public var leaseDuration: TimeInterval
    public var retry: RetryPolicy
    /// How long finished (`done`) jobs are kept before they are purged.
    public var retainDoneJobs: TimeInterval

    public init(concurrency: Int = 4, burstConcurrency: Int = 0, maxBurstPause: TimeInterval = 30, pollInterval: TimeInterval = 0.5, leaseDuration: TimeInterval = 60, retry: RetryPolicy = RetryPolicy(), retainDoneJobs: TimeInterval = 7 * 86_400) {
        self.concurrency = concurrency
        self.burstConcurrency = min(max(0, burstConcurrency), concurrency)
        self.maxBurstPause = maxBurstPause
        self.pollInterval = pollInterval
        self.leaseDuration = leaseDuration
        self.retry = retry
        self.retainDoneJobs = retainDoneJobs
    }
}

/// The AI router: an OpenAI-compatible Chat Completions endpoint, used only where a rule says `ask_ai`.
public struct AIConfig: Sendable, Equatable {
    /// Up to and including the API version: `https://api.openai.com/v1`, `http://127.0.0.1:8000/v1`.
    public var baseURL: String
    public var model: String
    /// Bearer key; nil for local servers that need none.
    public var apiKey: SecretRef?
    /// Longest one HTTP request may take.
    public var timeout: TimeInterval
    /// Budget for the untrusted text sent to the model (subject, body, attachment names, document text).
    public var maxInputCharacters: Int
    /// Retries of rate limits, timeouts and server errors (backoff with jitter, Retry-After honoured).
    public var retry: RetryPolicy

    public init(baseURL: String, model: String, apiKey: SecretRef? = nil, timeout: TimeInterval = 20, maxInputCharacters: Int = 12_000, retry: RetryPolicy = RetryPolicy(baseDelay: 0.5, maxDelay: 8, maxAttempts: 4, jitter: 0.5)) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.timeout = timeout
        self.maxInputCharacters = maxInputCharacters
        self.retry = retry
    }
}

/// `documents.model`: an OpenAI-compatible Chat Completions endpoint asked for invoice fields
/// (`FieldExtractionSchema`) of every document with text; its answer is merged with the local
/// extraction. With `send_images`, images of scanned (OCRed) pages go with the text.
public struct DocumentModelConfig: Sendable, Equatable {
    /// Up to and including the API version: `https://api.openai.com/v1`, `http://127.0.0.1:8000/v1`.
    public var baseURL: String
    public var model: String
    /// Bearer key; nil for local servers that need none.
    public var apiKey: SecretRef?
    /// Longest one request may take; on expiry the local result stands.
    public var timeout: TimeInterval
    /// Document text sent at most (characters); longer text is cut and marked `[truncated]`.
    public var maxInputCharacters: Int
    /// `send_images`: images of the first `maxImages` OCRed pages are sent with the text.
    public var sendImages: Bool = false
    /// `max_images`: scanned pages sent as images at most (1...8).
    public var maxImages: Int = 2
    /// `image_max_side_pixels`: an image's longer side is scaled down to this.
    public var imageMaxSidePixels: Int = 1600
    /// `image_max_bytes`: largest PNG per image; a larger one is scaled down further, or left out.
    public var imageMaxBytes: Int = 2 << 20

    public init(baseURL: String, model: String, apiKey: SecretRef? = nil, timeout: TimeInterval = 30, maxInputCharacters: Int = 12_000) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.timeout = timeout
        self.maxInputCharacters = maxInputCharacters
    }

    /// What the extraction child is told to render for the model; nil unless `send_images`.
    public var pageImages: PageImageSettings? {
        sendImages ? PageImageSettings(maxImages: maxImages, maxSidePixels: imageMaxSidePixels, maxBytes: imageMaxBytes) : nil
    }
}

/// The whole daemon configuration after validation.
public struct DaemonConfig: Sendable, Equatable {
    public var stateDir: String
    public var webhookListen: ListenAddress
    public var adminListen: ListenAddress
    public var workers: WorkerConfig
    /// Longest a graceful shutdown may take before in-flight jobs are abandoned to lease expiry.
    public var shutdownGrace: TimeInterval
    public var logLevel: String
    /// Most intakes written in one transaction when webhooks arrive together.
    public var intakeBatchSize: Int
    public var organizations: [OrganizationConfig]
    /// The rules file (relative paths are resolved against the config file's directory); nil:
    /// every intake takes its source's or organization's default route.
    public var rulesFile: String?
    /// The AI router; nil: `ask_ai` rules always take their fallback.
    public var ai: AIConfig?
    /// Limits for every message parsed (`mail` section).
    public var mail = MailConfig()
    /// Document extraction limits and OCR settings (`documents` section).
    public var documents = DocumentsConfig()
    /// Model-based invoice field extraction (`documents.model`); nil: the local extractor alone.
    public var documentModel: DocumentModelConfig?
    /// Outgoing mail accounts (`smtp_accounts`); organizations name theirs in `reply_account`.
    public var smtpAccounts: [SMTPAccountConfig] = []
    /// Calendars, availability and reminders (`scheduling` section, docs/scheduling.md).
    public var scheduling = SchedulingConfig()

    public func smtpAccount(_ id: String) -> SMTPAccountConfig? { smtpAccounts.first { $0.id == id } }
    /// `admin.allow_plaintext`: the explicit opt-out that lets a non-loopback admin listener run
    /// without TLS (behind a TLS-terminating proxy or on a private network).
    public var adminAllowPlaintext = false

    public init(
        stateDir: String, webhookListen: ListenAddress, adminListen: ListenAddress, workers: WorkerConfig,
        shutdownGrace: TimeInterval, logLevel: String, intakeBatchSize: Int, organizations: [OrganizationConfig],
        rulesFile: String? = nil, ai: AIConfig? = nil
    ) {
        self.rulesFile = rulesFile
        self.ai = ai
        self.stateDir = stateDir
        self.webhookListen = webhookListen
        self.adminListen = adminListen
        self.workers = workers
        self.shutdownGrace = shutdownGrace
        self.logLevel = logLevel
        self.intakeBatchSize = intakeBatchSize
        self.organizations = organizations
    }

    public var sources: [SourceConfig] { organizations.flatMap(\.sources) }

    public func source(_ id: String) -> SourceConfig? { sources.first { $0.id == id } }

    public func organization(_ id: String) -> OrganizationConfig? { organizations.first { $0.id == id } }

    public var pipelines: [Pipeline] { organizations.flatMap(\.pipelines) }

    /// The keys that only take effect at start-up; a reload that changes them is reported.
    public func restartOnlyDifferences(from other: DaemonConfig) -> [String] {
        var keys: [String] = []
        if stateDir != other.stateDir { keys.append("state_dir") }
        if webhookListen != other.webhookListen { keys.append("listen.webhooks") }
        if adminListen != other.adminListen { keys.append("listen.admin") }
        if workers.concurrency != other.workers.concurrency { keys.append("workers.concurrency") }
        if intakeBatchSize != other.intakeBatchSize { keys.append("intake.batch_size") }
        if shutdownGrace != other.shutdownGrace { keys.append("shutdown.grace_seconds") }
        if documents.concurrency != other.documents.concurrency { keys.append("documents.concurrency") }
        // Mailbox pollers are started once with their account settings.
        let imap = sources.filter { $0.kind == .imap }.map { [$0.id: $0.imap] }
        let otherIMAP = other.sources.filter { $0.kind == .imap }.map { [$0.id: $0.imap] }
        if imap != otherIMAP { keys.append("organizations[].sources[] (imap)") }
        // Spool watchers are services started once; their folders follow restarts only.
        let spools = { (config: DaemonConfig) in config.sources.compactMap { source in source.spool.map { "\(source.id) \($0)" } } }
        if spools(self) != spools(other) { keys.append("sources (spool folders)") }
        return keys
    }
}

/// One problem in a configuration file: where, and what was expected.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    /// Dotted key path, array elements as `[i]`: `organizations[0].sources[1].auth.type`.
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Every problem found in a configuration, not just the first.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var source: String
    public var issues: [ConfigIssue]

    public init(source: String, issues: [ConfigIssue]) {
        self.source = source
        self.issues = issues
    }

    public var description: String {
        let noun = issues.count == 1 ? "error" : "errors"
        return "\(source): \(issues.count) \(noun)\n" + issues.map { "  - \($0)" }.joined(separator: "\n")
    }
}
