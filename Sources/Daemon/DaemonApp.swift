import Actions
import AsyncHTTPClient
import Core
import Foundation
import Hummingbird
import Inbound
import Logging
import Mail
import Rules
import ServiceLifecycle
import Storage
import Synchronization
import UnixSignals

/// The running daemon's parts, built from one loaded configuration. `@main` stays thin: tests
/// build the same object, drive its routers directly, or run its service group.
final class DaemonApp: Sendable {
    let loaded: Mutex<LoadedConfig>
    let store: SQLiteStore
    let blobs: TieredBlobStore
    /// The file tier of `blobs`, for start-up housekeeping.
    let files: FileBlobStore
    let committer: IntakeCommitter
    let directory: WebhookDirectory
    let router: SharedValue<any IntakeRouter>
    let metrics: DaemonMetrics
    let notifier: SystemdNotifier
    let doorbell = Doorbell()
    /// The webhook listener's requests in flight; the job worker starts fewer jobs while it is busy.
    let intakeLoad: IntakeLoad
    let health = LoopHealth()
    let mailboxes = MailboxHealth()
    let workerSettings: WorkerSettings
    let logLevel: SharedValue<Logger.Level>
    let logger: Logger
    let environment: [String: String]
    let startedAt: Date
    let stateDirOverride: String?
    /// Outgoing mail for replies; keeps each account's SMTP connections open between messages.
    let smtp: SMTPSender
    /// Sources an operator paused (persisted in the store; read by ingress, pollers, watchers).
    let pauses: SourcePauses
    /// Admin API authentication failures per client address.
    let authLimiter = AuthFailureLimiter()
    /// Serialises `PUT /v1/config` and `PUT /v1/rules`.
    let configEditor = ConfigEditor()
    /// The process's one HTTP client (outbound webhooks). It does not follow redirects, so a
    /// receiver cannot send a delivery past the SSRF guard with a `Location`.
    let httpClient: HTTPClient
    /// Long-lived sandboxed extraction workers (`documents.concurrency` of them at most).
    let extractionWorkers: ExtractionWorkerPool
    /// Every configured calendar host's provider health (registered at start and on reload;
    /// updated by the providers built from `calendarContext`); shown on `/readyz` and `/v1/health`.
    let calendarHealth: CalendarHealth
    /// What every `BookingService` of this process shares: calendar providers and the per-calendar lock.
    let bookingShared = BookingService.Shared()

    /// Opens the store under the state directory and prepares every part; starts nothing.
    static func open(loaded: LoadedConfig, stateDirOverride: String? = nil, environment: [String: String], notifier: SystemdNotifier, logLevel: SharedValue<Logger.Level>, logger: Logger, metrics: DaemonMetrics = DaemonMetrics()) async throws -> DaemonApp {
        let storage = try openStorage(config: loaded.config, logger: logger)
        try await storage.store.syncPipelines(loaded.config.pipelines)
        let paused = try await storage.store.pausedSources()
        return DaemonApp(loaded: loaded, store: storage.store, blobs: storage.blobs, files: storage.files, stateDirOverride: stateDirOverride, environment: environment, notifier: notifier, logLevel: logLevel, logger: logger, metrics: metrics, paused: paused)
    }

    private init(loaded: LoadedConfig, store: SQLiteStore, blobs: TieredBlobStore, files: FileBlobStore, stateDirOverride: String?, environment: [String: String], notifier: SystemdNotifier, logLevel: SharedValue<Logger.Level>, logger: Logger, metrics: DaemonMetrics, paused: Set<String>) {
        let config = loaded.config
        self.pauses = SourcePauses(paused)
        self.loaded = Mutex(loaded)
        self.stateDirOverride = stateDirOverride
        self.environment = environment
        self.notifier = notifier
        self.logLevel = logLevel
        self.logger = logger
        self.metrics = metrics
        self.startedAt = Date()
        self.httpClient = ProcessHTTPClient.shared
        self.store = store
        self.blobs = blobs
        self.files = files
        self.directory = WebhookDirectory(loaded.endpoints)
        self.router = SharedValue<any IntakeRouter>(loaded.makeRouter(aiObserver: metrics.aiObserver, logger: logger))
        self.workerSettings = WorkerSettings(config.workers)
        self.smtp = SMTPSender(threads: config.workers.concurrency)
        self.extractionWorkers = ExtractionWorkerPool(concurrency: config.documents.concurrency, observer: metrics.documentObserver, logger: logger)
        let calendarHealth = CalendarHealth()
        CalendarProviders.register(config.scheduling, in: calendarHealth)
        calendarHealth.onChange { [logger] entry in Self.logCalendarHealth(entry, logger: logger) }
        self.calendarHealth = calendarHealth
        let doorbell = self.doorbell
        self.intakeLoad = IntakeLoad()
        self.committer = IntakeCommitter(store: store, blobs: blobs, maxBatch: config.intakeBatchSize, logger: logger) { _ in doorbell.ring() }
    }

    /// The state directory layout: `astralisd.sqlite` (with blobs up to 64 KiB inline) and `blobs/`.
    static func openStorage(config: DaemonConfig, logger: Logger) throws -> (store: SQLiteStore, blobs: TieredBlobStore, files: FileBlobStore) {
        let stateDir = config.stateDir
        do {
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        } catch {
            throw StoreError.unavailable("cannot create state directory \(stateDir): \(error.localizedDescription)")
        }
        let store = try SQLiteStore(path: stateDir + "/astralisd.sqlite", retry: config.workers.retry, logger: logger)
        let files = try FileBlobStore(root: stateDir + "/blobs")
        return (store, TieredBlobStore(small: SQLiteBlobStore(store: store), large: files), files)
    }

    var config: DaemonConfig { loaded.withLock { $0.config } }

    /// Calendars, their providers and the per-calendar booking lock, on the config in force.
    var bookings: BookingService {
        BookingService(
            store: store, config: { [self] in self.config }, context: calendarContext,
            shared: bookingShared, logger: logger, observe: { [metrics] in metrics.booking(outcome: $0) })
    }

    /// What calendar providers are built with: the process's secrets, health and metrics.
    var calendarContext: CalendarProviders.Context {
        .process(environment: environment, health: calendarHealth, observer: metrics.calendarObserver, logger: logger)
    }

    /// A provider's state changed: reconnect needed is an error an operator must act on.
    static func logCalendarHealth(_ entry: CalendarProviderHealth, logger: Logger) {
        let metadata: Logger.Metadata = [
            "calendar.provider": "\(entry.provider)", "calendar.kind": "\(entry.kind)", "calendar.state": "\(entry.state.rawValue)",
            "calendar.error": "\(entry.lastError ?? "-")",
        ]
        switch entry.state {
        case .reconnectNeeded: logger.error("Calendar account needs to be reconnected", metadata: metadata)
        case .degraded: logger.warning("Calendar provider degraded", metadata: metadata)
        case .ok, .unknown: logger.notice("Calendar provider healthy", metadata: metadata)
        }
    }

    func makeWebhookRouter() -> Router<IngressRequestContext> {
        let router = Router(context: IngressRequestContext.self)
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: IntakeLoadMiddleware(load: intakeLoad))
        WebhookIngress(directory: directory, committer: committer, store: store, observer: metrics.ingressObserver, logger: logger, pauses: pauses).addRoutes(to: router)
        return router
    }

    /// How long the job loop may go without a tick before it counts as stalled: a lease call
    /// plus one poll wait never takes this long on a healthy store. Follows reloads.
    var stallLimit: @Sendable () -> Duration {
        { [workerSettings] in workerSettings.current.pollInterval * 3 + .seconds(30) }
    }

    /// The admin listener: open health/readiness/metrics and the token-guarded `/v1` API.
    /// `limiter` and `now` are injectable for tests.
    func makeAdminRouter(limiter: AuthFailureLimiter? = nil, now: @escaping @Sendable () -> Date = { Date() }) -> Router<AdminRequestContext> {
        let router = Router(context: AdminRequestContext.self)
        router.add(middleware: MetricsMiddleware())
        adminRoutes().addRoutes(to: router)
        adminAPI(limiter: limiter, now: now).addRoutes(to: router)
        return router
    }

    func adminAPI(limiter: AuthFailureLimiter? = nil, now: @escaping @Sendable () -> Date = { Date() }) -> AdminAPI {
        AdminAPI(app: self, limiter: limiter ?? authLimiter, now: now)
    }

    func adminRoutes() -> AdminRoutes {
        var routes = AdminRoutes(store: store, queue: store, metrics: metrics, health: health, mailboxes: mailboxes, stallLimit: stallLimit, startedAt: startedAt, logger: logger, detailed: config.adminListen.isLoopback)
        routes.webhooks = store
        routes.calendars = calendarHealth
        routes.intakeLoad = intakeLoad
        return routes
    }

    func intakeProcessor() -> IntakeProcessor {
        var processor = IntakeProcessor(store: store, blobs: blobs, router: router, composer: ItemComposer(), mail: { [self] in self.config.mail }, logger: logger)
        var documents = DocumentPipeline(
            store: store, blobs: blobs, concurrency: config.documents.concurrency, observer: metrics.documentObserver
        ) { [self] in ExtractionSandbox(settings: ExtractionSettings(limits: self.config.documents, pageImages: self.config.documentModel?.pageImages)) }
        documents.workers = extractionWorkers
        processor.documentPipeline = documents
        // Built per document from the config in force, so a reload that adds, changes or removes
        // `documents.model` takes effect without a restart.
        processor.documentPipeline?.fieldModel = { [self] in
            loaded.withLock { $0 }.makeDocumentModel(
                observe: { [metrics] outcome, seconds in metrics.documentModelCall(outcome: outcome, seconds: seconds) },
                observeImages: { [metrics] event, count in metrics.documentModelImages(event: event, count: count) }, logger: logger)
        }
        processor.leaseKeeper = (queue: store, duration: { [workerSettings] in workerSettings.current.leaseDuration })
        processor.bookings = bookings
        processor.bookingReplies = BookingReplyIntake(
            bookings: store, blobs: blobs, mail: { [self] in self.config.mail }, count: { [metrics] in metrics.bookingReply(outcome: $0) }, logger: logger)
        return processor
    }

    func makeWorker() -> JobWorker {
        let config = self.config
        var processor = intakeProcessor()
        processor.outbound = { [self] in loaded.withLock { $0.outbound } }
        let webhooks = WebhookDeliveryHandler(
            store: store, sender: WebhookSender(client: httpClient), endpoints: { [self] in loaded.withLock { $0.outbound } },
            metrics: metrics, logger: logger)
        let owner = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(Identifier.make(prefix: "w").suffix(6))"
        let resolver = SecretResolver(environment: environment)
        let replies = ReplyDelivery(
            store: store, blobs: blobs, sender: smtp, renderer: ReplyRenderer(), config: { [self] in self.config },
            secrets: { try resolver.resolve($0) }, clock: SystemWallClock(), metrics: metrics, logger: logger)
        let bookingJobs = BookingJobs(service: self.bookings, store: store, sender: smtp, secrets: { try resolver.resolve($0) }, metrics: metrics, logger: logger)
        let handlers: [String: any JobHandling] = [
            JobKind.processIntake: processor, JobKind.sendReply: replies, JobKind.deliverWebhook: webhooks, JobKind.createBooking: bookingJobs,
            JobKind.updateBooking: bookingJobs, JobKind.offerBooking: bookingJobs, JobKind.sendReminder: bookingJobs,
        ]
        return JobWorker(
            queue: store, handlers: handlers, concurrency: config.workers.concurrency,
            settings: workerSettings, owner: owner, doorbell: doorbell, health: health, metrics: metrics, logger: logger,
            intakeLoad: intakeLoad
        )
    }

    /// One poller per (IMAP source, folder). Secrets are resolved on every connect.
    func makeMailboxPollers() -> [MailboxPoller] {
        let resolver = SecretResolver(environment: environment)
        let owner = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(Identifier.make(prefix: "m").suffix(6))"
        // Test hook: process tests restart a killed daemon and should not wait a minute for the
        // dead process's folder lease to expire.
        let lease = environment["ASTRALISD_TEST_MAILBOX_LEASE_SECONDS"].flatMap(Double.init).map { max(1, $0) } ?? 60
        var pollers: [MailboxPoller] = []
        for source in config.sources {
            guard let imap = source.imap else { continue }
            let ref = imap.credential.keyAndRef.1
            for folder in imap.folders {
                pollers.append(MailboxPoller(
                    source: source, settings: imap, folder: folder, store: store, committer: committer, health: mailboxes,
                    observer: metrics.mailboxObserver, owner: owner, secret: { try resolver.resolve(ref) }, logger: logger,
                    leaseDuration: lease, pauses: pauses))
            }
        }
        return pollers
    }

    /// All long-lived services. Shutdown runs in reverse order: STOPPING=1 first, then the public
    /// listener stops taking webhooks, then the admin port, then workers drain.
    func makeServiceGroup() -> ServiceGroup {
        let config = self.config
        let readiness = ReadinessGate(expected: 2) { [self] in
            let elapsed = Date().timeIntervalSince(startedAt)
            logger.info("astralisd ready", metadata: [
                "listen.webhooks": "\(config.webhookListen)", "listen.admin": "\(config.adminListen)",
                "startup.ms": "\(Int(elapsed * 1000))", "state.dir": "\(config.stateDir)",
            ])
            notifier.ready(status: "accepting webhooks on \(config.webhookListen)")
        }
        let webhookApp = Application(
            router: makeWebhookRouter(),
            configuration: .init(address: .hostname(config.webhookListen.host, port: config.webhookListen.port), serverName: "astralisd", reuseAddress: true),
            onServerRunning: { _ in readiness.arrive() },
            logger: logger
        )
        let adminApp = Application(
            router: makeAdminRouter(),
            configuration: .init(address: .hostname(config.adminListen.host, port: config.adminListen.port), serverName: "astralisd", reuseAddress: true),
            onServerRunning: { _ in readiness.arrive() },
            logger: logger
        )
        let pollers: [any Service] = makeMailboxPollers()
        let services: [any Service] = [makeWorker()] + pollers + [
            WatchdogService(notifier: notifier, health: health, stallLimit: stallLimit, logger: logger),
            QueueJanitor(queue: store, retention: { [self] in config.workers.retainDoneJobs }, clock: SystemWallClock(), logger: logger),
            ReloadService(app: self),
        ] + makeSpoolWatchers() + [
            adminApp,
            webhookApp,
            StoppingNotifier(notifier: notifier, logger: logger),
        ]
        var groupConfig = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfig.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfig.maximumGracefulShutdownDuration = .milliseconds(Int64(config.shutdownGrace * 1000))
        return ServiceGroup(configuration: groupConfig)
    }

    /// One watcher per `spool` source (folders are fixed until restart; mail limits follow reloads).
    func makeSpoolWatchers() -> [any Service] {
        config.sources.compactMap { source in
            source.spool.map { settings in
                SpoolWatcher(
                    source: source.id, organization: source.organization, settings: settings, committer: committer,
                    parser: { [self] in MessageParser(limits: MailLimits(config.mail)) }, observer: metrics.spoolObserver, logger: logger,
                    pauses: pauses
                )
            }
        }
    }

    /// SIGHUP: parse and validate first; swap only a valid configuration; keep the old one and
    /// say why otherwise. Restart-only keys keep their running values and are reported.
    @discardableResult
    func reload() -> ReloadOutcome {
        notifier.reloading()
        defer { notifier.ready() }
        let current = loaded.withLock { $0 }
        let next: LoadedConfig
        do {
            next = try ConfigLoader.load(path: current.path, stateDirOverride: stateDirOverride, rulesOverride: current.rulesOverride, environment: environment)
        } catch {
            metrics.configReload(success: false)
            logger.error("Reload rejected; keeping the running configuration", metadata: [
                "config.path": "\(current.path)", "config.error_source": "\(error.source)", "config.errors": "\(error.issues.map(\.description))",
            ])
            return .rejected(error)
        }
        let restartOnly = next.config.restartOnlyDifferences(from: current.config)
        var applied = next
        // Keep restart-only values as they run, so what the daemon reports matches what it does.
        applied.config.stateDir = current.config.stateDir
        applied.config.webhookListen = current.config.webhookListen
        applied.config.adminListen = current.config.adminListen
        applied.config.workers.concurrency = current.config.workers.concurrency
        applied.config.intakeBatchSize = current.config.intakeBatchSize
        applied.config.shutdownGrace = current.config.shutdownGrace
        directory.replace(with: next.endpoints)
        router.value = applied.makeRouter(aiObserver: metrics.aiObserver, logger: logger)
        logLevel.value = Logger.Level(rawValue: applied.config.logLevel) ?? .info
        workerSettings.update(from: applied.config.workers)
        store.retry = applied.config.workers.retry
        CalendarProviders.register(applied.config.scheduling, in: calendarHealth)
        loaded.withLock { $0 = applied }
        let pipelines = applied.config.pipelines
        let store = self.store
        Task { try? await store.syncPipelines(pipelines) }
        metrics.configReload(success: true)
        if restartOnly.isEmpty {
            logger.info("Configuration reloaded", metadata: ["config.path": "\(current.path)", "rules.file": "\(applied.config.rulesFile ?? "-")", "rules.count": "\(applied.rules?.count ?? 0)"])
        } else {
            logger.warning("Configuration reloaded; some changes need a restart", metadata: ["config.path": "\(current.path)", "config.restart_only": "\(restartOnly)"])
        }
        return .applied(restartOnly: restartOnly)
    }
}

/// What a reload did: applied (with the restart-only keys that keep their running values), or
/// rejected with every error (the running configuration stays).
enum ReloadOutcome: Sendable {
    case applied(restartOnly: [String])
    case rejected(ConfigError)
}

/// Owns SIGHUP for the whole process.
struct ReloadService: Service {
    let app: DaemonApp

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            app.logger.info("SIGHUP received; reloading configuration")
            app.reload()
        }
    }
}

/// Calls `onReady` once when `expected` listeners have started.
final class ReadinessGate: Sendable {
    private let remaining: Mutex<Int>
    private let onReady: @Sendable () -> Void

    init(expected: Int, onReady: @escaping @Sendable () -> Void) {
        remaining = Mutex(expected)
        self.onReady = onReady
    }

    func arrive() {
        let fire = remaining.withLock { count -> Bool in
            count -= 1
            return count == 0
        }
        if fire { onReady() }
    }
}
