import AsyncAlgorithms
public import Core
public import Foundation
public import Logging
public import Mail
public import ServiceLifecycle

/// What a spool watcher reports; the daemon maps it onto its metrics registry.
public struct SpoolObserver: Sendable {
    /// A file became an intake (`duplicate`: its intake already existed, e.g. after a crash).
    public var taken: @Sendable (_ source: String, _ duplicate: Bool) -> Void
    /// A file was moved to the failed folder, with a short reason (`too_large`, `unreadable`, `not_regular`).
    public var failed: @Sendable (_ source: String, _ reason: String) -> Void

    public init(taken: @escaping @Sendable (String, Bool) -> Void = { _, _ in }, failed: @escaping @Sendable (String, String) -> Void = { _, _ in }) {
        self.taken = taken
        self.failed = failed
    }
}

/// A spool folder as a source of mail intakes. Writers put complete message files into the
/// folder (names starting with `.` or ending in `.tmp` are left alone, so write-then-rename works
/// as in maildir). Each file is first renamed into `.processing/` under a unique name — a rename
/// is atomic, so of two watchers on one folder exactly one takes a file — then made an intake with
/// `MailIntake.pending` and submitted; only once the intake is durable is the file moved to the
/// done folder as `<intake id>-<name>`. Files that are too large or cannot be read go to the
/// failed folder with a `<name>.reason` text file. On start, files left in `.processing/` by a
/// crash are submitted again; the dedupe key (Message-ID + SHA-256 of the bytes) makes that
/// one intake.
public struct SpoolWatcher: Service {
    public let source: String
    public let organization: String
    public let settings: SpoolConfig
    private let committer: IntakeCommitter
    private let parser: @Sendable () -> MessageParser
    private let observer: SpoolObserver
    private let logger: Logger
    /// Operator pauses: a paused source's folder is not read (files wait in it).
    private let pauses: SourcePauses

    /// Files being taken, named `<token>-<original name>`.
    public var processingDir: String { settings.path + "/.processing" }

    /// - Parameter parser: the parser with the `mail` limits in force (called per file, so reloads apply).
    public init(source: String, organization: String, settings: SpoolConfig, committer: IntakeCommitter, parser: @escaping @Sendable () -> MessageParser, observer: SpoolObserver = SpoolObserver(), logger: Logger, pauses: SourcePauses = SourcePauses()) {
        self.pauses = pauses
        self.source = source
        self.organization = organization
        self.settings = settings
        self.committer = committer
        self.parser = parser
        self.observer = observer
        var logger = logger
        logger[metadataKey: "spool.source"] = "\(source)"
        self.logger = logger
    }

    public func run() async throws {
        try prepare()
        await recover()
        await pass()
        let interval = Duration.milliseconds(Int64(settings.pollInterval * 1000))
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            await pass()
        }
    }

    /// Creates the folder, `.processing/`, the done and the failed folders when missing.
    public func prepare() throws {
        for folder in [settings.path, processingDir, settings.doneDir, settings.failedDir] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
    }

    /// Submits every file a previous run left in `.processing/` (a crash between taking a file and
    /// moving it out). Returns how many files were handled.
    @discardableResult
    public func recover() async -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: processingDir)) ?? []
        var handled = 0
        for name in names.sorted() where !Task.isCancelled {
            logger.notice("Spool file left by an earlier run; submitting it again", metadata: ["spool.file": "\(name)"])
            await handle(processingName: name)
            handled += 1
        }
        return handled
    }

    /// One look at the folder: takes every ready file in name order. Returns how many were taken.
    @discardableResult
    public func pass() async -> Int {
        guard !pauses.isPaused(source) else { return 0 }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: settings.path)
        } catch {
            logger.error("Spool folder cannot be listed", metadata: ["spool.path": "\(settings.path)", "error": "\(error)"])
            return 0
        }
        var taken = 0
        for name in names.sorted() where Self.isReady(name) {
            if Task.isCancelled { break }
            let path = settings.path + "/" + name
            // lstat: a symbolic link is taken (and refused in `read`), a folder (done/, failed/) is not.
            guard let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType,
                  type != .typeDirectory else { continue }
            let processingName = "\(Identifier.make(prefix: "take"))-\(name)"
            do {
                try FileManager.default.moveItem(atPath: path, toPath: processingDir + "/" + processingName)
            } catch {
                // Gone already: another watcher took it, or the writer removed it.
                logger.debug("Spool file not taken", metadata: ["spool.file": "\(name)", "error": "\(error)"])
                continue
            }
            await handle(processingName: processingName)
            taken += 1
        }
        return taken
    }

    /// Whether a name in the folder is a finished file: writers use dot files and `.tmp` while writing.
    public static func isReady(_ name: String) -> Bool {
        !name.hasPrefix(".") && !name.hasSuffix(".tmp")
    }

    /// The name the writer gave a file taken as `<token>-<name>`.
    static func originalName(_ processingName: String) -> String {
        guard processingName.hasPrefix("take_"), let dash = processingName.firstIndex(of: "-") else { return processingName }
        return String(processingName[processingName.index(after: dash)...])
    }

    private func handle(processingName: String) async {
        let path = processingDir + "/" + processingName
        let name = Self.originalName(processingName)
        var logger = self.logger
        logger[metadataKey: "spool.file"] = "\(name)"
        let pending: PendingIntake
        switch read(path) {
        case .failure(let failure):
            fail(processingName: processingName, reason: failure.reason, detail: failure.detail, logger: logger)
            return
        case .success(.bytes(let raw)):
            pending = MailIntake.pending(
                raw: raw, organization: organization, source: source, sourceKind: .spool,
                metadata: ["spool.file": name], parser: parser()
            )
        case .success(.large):
            // Copied into the blob store in pieces and parsed from there: never whole in memory.
            do {
                let raw = try await MailIntake.storeFile(path, in: committer.blobs, limit: settings.maxMessageBytes)
                pending = try await MailIntake.pending(
                    stored: raw, in: committer.blobs, organization: organization, source: source, sourceKind: .spool,
                    metadata: ["spool.file": name], parser: parser()
                )
            } catch {
                logger.error("Spool file not committed; it stays in the folder", metadata: ["error": "\(error)"])
                try? FileManager.default.moveItem(atPath: path, toPath: settings.path + "/" + name)
                return
            }
        }
        let result: IntakeRecordResult
        do {
            result = try await committer.submit(pending)
        } catch {
            // The store did not take it: put the file back so a later pass tries again.
            logger.error("Spool file not committed; it stays in the folder", metadata: ["error": "\(error)"])
            try? FileManager.default.moveItem(atPath: path, toPath: settings.path + "/" + name)
            return
        }
        let intake = result.intake
        let duplicate: Bool
        if case .duplicate = result { duplicate = true } else { duplicate = false }
        observer.taken(source, duplicate)
        let done = settings.doneDir + "/" + "\(intake.id)-\(name)"
        do {
            try Self.replace(at: done, with: path)
            logger.info("Spool file taken", metadata: ["intake.id": "\(intake.id)", "intake.duplicate": "\(duplicate)"])
        } catch {
            // The intake is durable; the file stays in .processing and is resubmitted (as a
            // duplicate) on the next start.
            logger.error("Spool file taken but not moved to the done folder", metadata: ["intake.id": "\(intake.id)", "error": "\(error)"])
        }
    }

    private struct ReadFailure: Error {
        var reason: String
        var detail: String
    }

    /// A file small enough to read, or one to stream into the blob store.
    private enum Readable {
        case bytes(Data)
        case large
    }

    private func read(_ path: String) -> Result<Readable, ReadFailure> {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            return .failure(ReadFailure(reason: "unreadable", detail: "the file cannot be examined: \(error.localizedDescription)"))
        }
        // Symbolic links are not followed: a writer could otherwise make the daemon read any file.
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            let type = (attributes[.type] as? FileAttributeType)?.rawValue ?? "unknown"
            return .failure(ReadFailure(reason: "not_regular", detail: "not a regular file (\(type)); symbolic links, pipes and devices are not read"))
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= settings.maxMessageBytes else {
            return .failure(ReadFailure(reason: "too_large", detail: "file is \(size) bytes, over this source's max_message_bytes of \(settings.maxMessageBytes)"))
        }
        if size > MailIntake.streamThresholdBytes { return .success(.large) }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(ReadFailure(reason: "unreadable", detail: "the file cannot be read (permissions?)"))
        }
        guard data.count <= settings.maxMessageBytes else {
            return .failure(ReadFailure(reason: "too_large", detail: "file is \(data.count) bytes, over this source's max_message_bytes of \(settings.maxMessageBytes)"))
        }
        return .success(.bytes(data))
    }

    /// Moves a file to the failed folder (keeping its unique `<token>-<name>`) next to `<that>.reason`.
    private func fail(processingName: String, reason: String, detail: String, logger: Logger) {
        observer.failed(source, reason)
        let target = settings.failedDir + "/" + processingName
        logger.warning("Spool file not taken; moved to the failed folder", metadata: ["spool.reason": "\(reason)", "spool.detail": "\(detail)"])
        do {
            try Data((detail + "\n").utf8).write(to: URL(fileURLWithPath: target + ".reason"))
            try Self.replace(at: target, with: processingDir + "/" + processingName)
        } catch {
            logger.error("Spool file could not be moved to the failed folder", metadata: ["error": "\(error)"])
        }
    }

    /// Renames `source` to `target`, replacing a file already there (a re-run after a crash).
    private static func replace(at target: String, with source: String) throws {
        if FileManager.default.fileExists(atPath: target) { try FileManager.default.removeItem(atPath: target) }
        try FileManager.default.moveItem(atPath: source, toPath: target)
    }
}
