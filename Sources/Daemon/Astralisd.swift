import Actions
import ArgumentParser
import Core
import Foundation
import Inbound
import Logging
import Mail
import Metrics
import Prometheus
import Rules
import ServiceLifecycle
import Storage

/// `astralisd`: the daemon and its operator commands (entry point: `AstralisdMain`).
struct Astralisd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "astralisd",
        abstract: "Turns inbound email and web-form webhooks into routed, tracked work.",
        version: "0.1.0",
        subcommands: [Run.self, Check.self, RulesCommand.self, Items.self, IntakeCommand.self, Ingest.self, Parse.self, Extract.self, SMTPBench.self, TokenCommand.self, WebhooksCommand.self, Slots.self, SchedulingCommand.self],
        defaultSubcommand: nil
    )
}

/// Options shared by every command that reads the configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (default: $ASTRALISD_CONFIG or /etc/astralisd/astralisd.json).")
    var config: String?

    @Option(name: .long, help: "State directory; overrides $STATE_DIRECTORY and the config's state_dir.")
    var stateDir: String?

    @Option(name: .long, help: "Rules file; overrides the config's rules_file (run, check, rules test).")
    var rules: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var path: String { config ?? ConfigLoader.defaultPath(environment: environment) }

    /// Loads the configuration or exits 1 after printing every error.
    func load() throws -> LoadedConfig {
        do {
            return try ConfigLoader.load(path: path, stateDirOverride: stateDir, rulesOverride: rules, environment: environment)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(1)
        }
    }
}

/// Sets up the process-wide logger once.
enum ProcessLogging {
    static func bootstrap(level: String) -> (Logger, SharedValue<Logger.Level>) {
        let shared = SharedValue(Logger.Level(rawValue: level) ?? .info)
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: shared) }
        return (Logger(label: "astralisd"), shared)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (webhook listener, admin port, workers).")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let loaded = try options.load()
        let (logger, level) = ProcessLogging.bootstrap(level: loaded.config.logLevel)
        let metrics = DaemonMetrics()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        let notifier = SystemdNotifier()
        // Every attachment and uploaded file is extracted by this separate program: without it
        // documents would all fail, so the daemon does not start.
        let extractor = ExtractionSandbox.extractorExecutable(environment: options.environment)
        if let problem = ExtractionSandbox.extractorProblem(extractor) {
            logger.critical("Refusing to start: the document extraction executable is missing", metadata: ["extract.path": "\(extractor)"])
            FileHandle.standardError.write(Data("\(problem)\n".utf8))
            throw ExitCode(1)
        }
        let app: DaemonApp
        do {
            app = try await DaemonApp.open(loaded: loaded, stateDirOverride: options.stateDir, environment: options.environment, notifier: notifier, logLevel: level, logger: logger, metrics: metrics)
        } catch {
            logger.critical("Cannot open the state directory", metadata: ["state.dir": "\(loaded.config.stateDir)", "error": "\(error)"])
            throw ExitCode(1)
        }
        do {
            if let problem = try await AdminListenerPolicy.problem(loaded.config, store: app.store) {
                logger.critical("Refusing to start: the admin listener is not safe to expose", metadata: ["config.problem": "\(problem)"])
                FileHandle.standardError.write(Data("\(loaded.path): \(problem)\n".utf8))
                throw ExitCode(1)
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            logger.critical("Cannot read admin tokens", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        logger.info("Starting astralisd", metadata: ["config.path": "\(loaded.path)", "state.dir": "\(loaded.config.stateDir)", "pid": "\(getpid())"])
        let swept = app.files.removeAbandonedTemporaryFiles()
        if swept > 0 {
            logger.notice("Removed temporary blob files left by an interrupted write", metadata: ["blobs.removed": "\(swept)"])
        }
        do {
            try await app.makeServiceGroup().run()
        } catch {
            logger.critical("astralisd stopped on an error", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        logger.info("astralisd stopped")
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate the configuration like `nginx -t`: list every error, exit 1 if any.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let loaded = try options.load()
        let config = loaded.config
        if !config.adminListen.isLoopback {
            let (_, store, _) = try openStore(options)
            if let problem = try await AdminListenerPolicy.problem(config, store: store) {
                FileHandle.standardError.write(Data("\(loaded.path): 1 error\n  - \(problem)\n".utf8))
                throw ExitCode(1)
            }
        }
        // Replies go out through libcurl, opened only when the first one is sent: make sure now
        // that it is there, rather than on the first reply.
        var smtpLine: String?
        if !config.smtpAccounts.isEmpty {
            switch CurlLibrary.shared {
            case .success(let curl):
                smtpLine = "smtp: \(config.smtpAccounts.count) account(s); replies go out through \(curl.version)"
            case .failure(let error):
                FileHandle.standardError.write(Data("\(loaded.path): 1 error\n  - smtp_accounts: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        print("\(loaded.path): configuration ok (\(config.organizations.count) organization(s), \(config.pipelines.count) pipeline(s), \(config.sources.count) source(s); state in \(config.stateDir))")
        if let rules = loaded.rules, let file = config.rulesFile {
            print("\(file): rules ok (\(rules.count) rule(s))")
        } else {
            print("no rules file: every intake takes its source's or organization's default route")
        }
        if let smtpLine { print(smtpLine) }
    }
}

/// Opens the store of a configuration for the read-only operator commands.
func openStore(_ options: ConfigOptions) throws -> (LoadedConfig, SQLiteStore, TieredBlobStore) {
    let loaded = try options.load()
    let logger = Logger(label: "astralisd.cli")
    do {
        let storage = try DaemonApp.openStorage(config: loaded.config, logger: logger)
        return (loaded, storage.store, storage.blobs)
    } catch {
        FileHandle.standardError.write(Data("cannot open the store in \(loaded.config.stateDir): \(error)\n".utf8))
        throw ExitCode(1)
    }
}

struct Items: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pipeline items.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List pipeline items, newest first.")

        @OptionGroup var options: ConfigOptions
        @Option(help: "Only items in this pipeline.") var pipeline: String?
        @Option(help: "Only items in this stage.") var stage: String?
        @Option(help: "Most items to show.") var limit: Int = 50
        @Flag(help: "Print JSON (one array) instead of a table.") var json = false

        func run() async throws {
            let (_, store, _) = try openStore(options)
            let items = try await store.items(ItemFilter(pipeline: pipeline, stage: stage, limit: max(1, min(limit, 10_000))))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(items), as: UTF8.self))
                return
            }
            if items.isEmpty {
                print("no items")
                return
            }
            let formatter = ISO8601DateFormatter()
            let rows = [["ID", "PIPELINE/STAGE", "PRIORITY", "CREATED", "TITLE"]] + items.map { item in
                [item.id, "\(item.pipeline)/\(item.stage)", item.priority.rawValue, formatter.string(from: item.createdAt), item.title]
            }
            let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                let padded = (0..<4).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                print((padded + [row[4]]).joined(separator: "  "))
            }
        }
    }
}

struct IntakeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "intake", abstract: "Intakes.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one intake: status, decision trace, documents, item, jobs.")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "Intake id (in_...).") var id: String
        @Flag(help: "Explain the stored decision (rules, conditions, AI call) instead of printing JSON.") var explain = false

        func run() async throws {
            let (_, store, _) = try openStore(options)
            guard let intake = try await store.intake(id: id) else {
                FileHandle.standardError.write(Data("no intake \(id)\n".utf8))
                throw ExitCode(1)
            }
            let documents = try await store.documents(intakeID: id)
            let item = try await intake.itemID.asyncMap { try await store.item(id: $0) } ?? nil
            if explain {
                print("intake \(intake.id): \(intake.status.rawValue) (\(intake.source), received \(intake.receivedAt.formatted(.iso8601)))")
                guard let decision = intake.decision else {
                    print("no decision yet")
                    return
                }
                print(DecisionReport.text(decision, rulesFile: nil, itemTitle: item?.title))
                return
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            struct Report: Encodable {
                var intake: Intake
                var documents: [Document]
                /// Extraction results of finished documents, by document id.
                var extraction: [String: DocumentOutcome]
                var item: PipelineItem?
            }
            let outcomes = try await store.documentOutcomes(intakeID: id)
            print(String(decoding: try encoder.encode(Report(intake: intake, documents: documents, extraction: outcomes, item: item)), as: UTF8.self))
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Submit a payload file as the webhook of SOURCE would receive it, or an email (.eml) as its mailbox would; a running daemon processes it.")

    @OptionGroup var options: ConfigOptions
    @Argument(help: "Payload file (.json, form data with --content-type, or an email: .eml / message/rfc822).") var file: String
    @Option(help: "Source id (any configured source) the payload belongs to.") var source: String
    @Option(help: "Media type of the file (default: from the extension; .json → application/json, .eml → message/rfc822).") var contentType: String?
    @Option(help: "Idempotency key: the same key again returns the first intake.") var idempotencyKey: String?

    func run() async throws {
        let (loaded, store, blobs) = try openStore(options)
        guard let sourceConfig = loaded.config.source(source) else {
            FileHandle.standardError.write(Data("no source \(source) in \(loaded.path) (configured: \(loaded.config.sources.map(\.id).joined(separator: ", ")))\n".utf8))
            throw ExitCode(1)
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
            throw ExitCode(1)
        }
        guard data.count <= sourceConfig.maxBodyBytes else {
            FileHandle.standardError.write(Data("\(file) is \(data.count) bytes; source \(source) takes at most \(sourceConfig.maxBodyBytes)\n".utf8))
            throw ExitCode(1)
        }
        let type = contentType ?? (file.hasSuffix(".json") ? "application/json" : file.lowercased().hasSuffix(".eml") ? MailIntake.contentType : "application/octet-stream")
        let committer = IntakeCommitter(store: store, blobs: blobs, maxBatch: 1, logger: Logger(label: "astralisd.cli"))
        let pending: PendingIntake
        if WebhookPayload.mediaType(type) == MailIntake.contentType {
            // Exactly what a mailbox source does with a fetched message: attachments become documents.
            pending = MailIntake.pending(
                raw: data, organization: sourceConfig.organization, source: source, sourceKind: .cli,
                metadata: ["auth": "cli", "file": file],
                dedupeKey: idempotencyKey.map { "\(source):idempotency-key:\($0)" },
                parser: MessageParser(limits: MailLimits(loaded.config.mail))
            )
        } else {
            pending = try webhookIntake(data: data, type: type, sourceConfig: sourceConfig)
        }
        let result = try await committer.submit(pending)
        switch result {
        case .created(let intake): print("\(intake.id) received (a running daemon will process it)")
        case .duplicate(let intake): print("\(intake.id) already received (\(intake.status.rawValue))")
        }
    }

    private func webhookIntake(data: Data, type: String, sourceConfig: SourceConfig) throws -> PendingIntake {
        let decoded: DecodedPayload
        do {
            decoded = try WebhookPayload.decode(contentType: type, body: data)
        } catch {
            FileHandle.standardError.write(Data("\(file): \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        return PendingIntake(
            organization: sourceConfig.organization, source: source, sourceKind: .cli,
            dedupeKey: idempotencyKey.map { "\(source):idempotency-key:\($0)" }, contentType: type, raw: data,
            metadata: ["auth": "cli", "file": file], files: decoded.files
        )
    }
}
