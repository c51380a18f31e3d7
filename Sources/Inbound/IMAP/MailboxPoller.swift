public import Core
public import Foundation
public import Logging
public import Mail
public import ServiceLifecycle

/// Watches one folder of one IMAP account and turns each new message into exactly one intake.
///
/// Per batch of new messages (up to 32, oldest first), in this order: `UID FETCH BODY.PEEK[]`
/// (nothing marked read) → the intakes are committed durably (`IntakeCommitter.submit`, dedupe
/// key `imap:{source}:{folder}:{UIDVALIDITY}:{UID}`, one group commit) → the processed action
/// (flag / move / delete) for the batch → the folder's progress (highest processed UID) is
/// advanced in the store. A crash or error between any two steps repeats the later steps on the
/// next sync and the intake dedupes, so the item exists once and the action is applied.
///
/// A message above `stream_threshold_bytes` is taken alone by the same steps, but fetched in
/// `BODY.PEEK[]<offset.length>` pieces straight into a blob and parsed from that file, so it is
/// never whole in memory (`takeStreamed`).
///
/// When the folder's UIDVALIDITY changes every message is new by UID; each one is first looked up
/// by its Message-ID + content hash (``MailFingerprint``), so mail seen before is acknowledged
/// but not ingested again.
///
/// One instance polls a folder at a time: the poller holds a lease in the store and renews it
/// while it works. It IDLEs when the server supports it (re-issued every `idle_restart_seconds`),
/// polls every `poll_interval_seconds` otherwise, resyncs after every reconnect, and reconnects
/// with exponential backoff and jitter.
public struct MailboxPoller: Service {
    public let source: SourceConfig
    public let settings: IMAPSourceSettings
    public let folder: String
    let store: any MailboxStore
    let committer: IntakeCommitter
    let health: MailboxHealth
    let observer: MailboxObserver
    let owner: String
    let secret: @Sendable () throws -> String
    let logger: Logger
    let backoff: RetryPolicy
    let leaseDuration: TimeInterval
    let parser: MessageParser
    /// Operator pauses: a paused source fetches nothing at its syncs (the connection stays up).
    let pauses: SourcePauses

    public init(
        source: SourceConfig, settings: IMAPSourceSettings, folder: String, store: any MailboxStore, committer: IntakeCommitter,
        health: MailboxHealth, observer: MailboxObserver = MailboxObserver(), owner: String,
        secret: @escaping @Sendable () throws -> String, logger: Logger,
        backoff: RetryPolicy = RetryPolicy(baseDelay: 1, maxDelay: 300, maxAttempts: .max, jitter: 0.5),
        leaseDuration: TimeInterval = 60, parser: MessageParser = MessageParser(), pauses: SourcePauses = SourcePauses()
    ) {
        self.pauses = pauses
        self.source = source
        self.settings = settings
        self.folder = folder
        self.store = store
        self.committer = committer
        self.health = health
        self.observer = observer
        self.owner = owner
        self.secret = secret
        self.backoff = backoff
        self.leaseDuration = leaseDuration
        self.parser = parser
        var logger = logger
        logger[metadataKey: "imap.source"] = "\(source.id)"
        logger[metadataKey: "imap.mailbox"] = "\(folder)"
        self.logger = logger
    }

    /// The store key of this folder's progress.
    public var stateKey: String { "imap:\(source.id):\(folder)" }
    var leaseName: String { "imap:\(source.id):\(folder)" }

    private struct LeaseLost: Error {}

    public func run() async throws {
        health.register(source: source.id, folder: folder, unhealthyAfter: settings.unhealthyAfter)
        let client = IMAPClient(settings: settings, secret: secret)
        var failures = 0
        var reportedUnhealthy = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                guard try await store.acquireLease(leaseName, owner: owner, duration: leaseDuration) else {
                    health.update(source: source.id, folder: folder) { $0.state = "standby"; $0.idleSince = nil }
                    logger.debug("Mailbox lease held by another instance")
                    try await pause(leaseDuration / 2)
                    continue
                }
                health.update(source: source.id, folder: folder) { $0.state = "syncing" }
                try await cancelWhenGracefulShutdown {
                    try await client.connect()
                    logger.info("Mailbox connected", metadata: ["imap.host": "\(settings.host)", "imap.tls": "\(settings.tls.rawValue)"])
                    try await watch(client)
                }
            } catch is CancellationError {
                break
            } catch is LeaseLost {
                logger.warning("Mailbox lease lost; another instance took the folder over")
                await client.disconnect()
                continue
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                // A successful sync since the last failure reset the count in `health`.
                failures = (health.snapshot(source: source.id, folder: folder)?.consecutiveFailures ?? 0) + 1
                if failures == 1 { reportedUnhealthy = false }
                let kind = (error as? IMAPError)?.kind.rawValue ?? "other"
                observer.failure(source.id, folder, kind)
                let now = Date()
                var unhealthy = false
                health.update(source: source.id, folder: folder) {
                    $0.state = "failing"
                    $0.idleSince = nil
                    $0.consecutiveFailures = failures
                    $0.lastError = "\(error)"
                    unhealthy = !$0.isHealthy(at: now)
                }
                await client.disconnect()
                let delay = backoff.delay(afterAttempt: failures)
                if unhealthy && !reportedUnhealthy {
                    reportedUnhealthy = true
                    logger.error("Mailbox cannot sync; unhealthy", metadata: [
                        "error": "\(error)", "imap.failures": "\(failures)", "imap.unhealthy_after_s": "\(Int(settings.unhealthyAfter))",
                    ])
                } else {
                    logger.warning("Mailbox sync failed; reconnecting after backoff", metadata: [
                        "error": "\(error)", "imap.failures": "\(failures)", "retry.delay_s": "\((delay * 10).rounded() / 10)",
                    ])
                }
                do { try await pause(delay) } catch { break }
            }
        }
        health.update(source: source.id, folder: folder) { $0.idleSince = nil }
        await client.shutdown()
        // A fresh task: this one is cancelled, and the release should still reach the store.
        let (store, leaseName, owner) = (self.store, self.leaseName, self.owner)
        await Task { try? await store.releaseLease(leaseName, owner: owner) }.value
    }

    /// Sleeps, ending early (with `CancellationError`) on graceful shutdown.
    private func pause(_ seconds: TimeInterval) async throws {
        try await cancelWhenGracefulShutdown {
            try await Task.sleep(for: .milliseconds(Int64(max(0, seconds) * 1000)))
        }
    }

    /// Syncs, then waits for news (IDLE or a poll interval) and syncs again, until an error.
    private func watch(_ client: IMAPClient) async throws {
        var lease = Date()
        try await syncUntilQuiet(client, lease: &lease)
        var useIdle = false
        if settings.idle { useIdle = try await client.supportsIdle() }
        if settings.idle && !useIdle { logger.notice("Server does not support IDLE; polling instead") }
        while true {
            if useIdle {
                try await client.idleStart()
                let started = Date()
                health.update(source: source.id, folder: folder) { $0.state = "idle"; $0.idleSince = started }
                var spoke = false
                while !spoke {
                    let left = settings.idleRestart - Date().timeIntervalSince(started)
                    if left <= 0 { break }
                    spoke = try await client.idleWait(seconds: min(left, leaseDuration / 4))
                    try Task.checkCancellation()
                    try await renew(&lease, force: true)
                }
                try await client.idleDone()
                health.update(source: source.id, folder: folder) { $0.idleSince = nil; $0.state = "syncing" }
            } else {
                health.update(source: source.id, folder: folder) { $0.state = "polling" }
                var waited: TimeInterval = 0
                while waited < settings.pollInterval {
                    let step = min(settings.pollInterval - waited, leaseDuration / 4)
                    try await Task.sleep(for: .milliseconds(Int64(step * 1000)))
                    waited += step
                    // Not forced: with a short poll interval this would write every second.
                    try await renew(&lease)
                }
                try await client.noop()
            }
            try await syncUntilQuiet(client, lease: &lease)
        }
    }

    /// Syncs until a pass finds nothing new, so IDLE starts only once nothing is pending. Mail
    /// that arrives while a pass runs is announced (EXISTS) in the answer to one of its commands
    /// and not again when IDLE starts: without another pass it would wait for the next
    /// notification, possibly the IDLE restart minutes later.
    private func syncUntilQuiet(_ client: IMAPClient, lease: inout Date) async throws {
        for _ in 0..<100 {
            guard try await sync(client, lease: &lease) else { return }
        }
    }

    private func renew(_ lastRenewed: inout Date, force: Bool = false) async throws {
        guard force || Date().timeIntervalSince(lastRenewed) > leaseDuration / 4 else { return }
        guard try await store.acquireLease(leaseName, owner: owner, duration: leaseDuration) else { throw LeaseLost() }
        lastRenewed = Date()
    }

    /// One pass: SELECT, then every message above the stored high-water UID, oldest first.
    /// True when another pass may find more: it took messages, or the server announced more while
    /// it listed them.
    @discardableResult
    private func sync(_ client: IMAPClient, lease: inout Date) async throws -> Bool {
        if pauses.isPaused(source.id) {
            // Counted as a sync so a deliberate pause does not fail readiness.
            health.update(source: source.id, folder: folder) { $0.state = "paused"; $0.lastSync = Date() }
            return false
        }
        let selected = try await client.select(folder)
        let existsAtSelect = try await client.exists()
        var progress = try await loadProgress()
        if let known = progress, known.uidValidity != selected.uidValidity {
            logger.warning("Folder UIDVALIDITY changed; rescanning, known mail is recognised by Message-ID and content hash", metadata: [
                "imap.uidvalidity.old": "\(known.uidValidity)", "imap.uidvalidity": "\(selected.uidValidity)",
            ])
            progress = nil
        }
        var state = progress ?? MailboxProgress(uidValidity: selected.uidValidity, lastUID: 0)
        if progress == nil { try await save(state) }

        let messages = try await client.messages(after: state.lastUID)
        // Nothing of ours was expunged yet in this pass: a higher count means new mail arrived
        // while the listing ran (announced in its answer, so IDLE would not announce it again).
        let announcedMore = try await client.exists() > existsAtSelect
        var next = messages.startIndex
        while next < messages.endIndex {
            try await renew(&lease)
            let message = messages[next]
            if message.size > settings.maxMessageBytes {
                let reason = "message is \(message.size) bytes, above max_message_bytes \(settings.maxMessageBytes); left on the server unprocessed"
                try await skip(message, size: message.size, reason: reason, state: &state)
                next += 1
                continue
            }
            if message.size > settings.streamThresholdBytes {
                try await takeStreamed(message, client: client, uidValidity: selected.uidValidity, state: &state)
                state.lastUID = message.uid
                try await save(state)
                next += 1
                continue
            }
            // A batch: consecutive messages that are not skipped or streamed, bounded in count and bytes.
            var batch: [MessageSize] = []
            var bytes = 0
            while next < messages.endIndex, batch.count < Self.batchMessages {
                let candidate = messages[next]
                guard candidate.size <= settings.maxMessageBytes, candidate.size <= settings.streamThresholdBytes else { break }
                if !batch.isEmpty && bytes + candidate.size > Self.batchBytes { break }
                batch.append(candidate)
                bytes += candidate.size
                next += 1
            }
            try await take(batch, client: client, uidValidity: selected.uidValidity)
            // Moves forward only once every message of the batch is durable and acknowledged.
            if let last = batch.last {
                state.lastUID = last.uid
                try await save(state)
            }
        }
        let now = Date()
        var recovered = false
        health.update(source: source.id, folder: folder) {
            recovered = $0.consecutiveFailures > 0
            $0.lastSync = now
            $0.consecutiveFailures = 0
            $0.lastError = nil
            if $0.state == "failing" || $0.state == "starting" { $0.state = "syncing" }
        }
        if recovered { logger.notice("Mailbox synced again after failures") }
        return !messages.isEmpty || announcedMore
    }

    /// Most messages fetched, committed and acknowledged together: one FETCH, one group commit,
    /// one STORE/MOVE per batch instead of one each.
    static let batchMessages = 32
    /// Most bytes fetched in one batch (one message above it still goes alone).
    static let batchBytes = 32 << 20

    /// Fetch → durable intakes → processed action, for one batch of UIDs.
    private func take(_ batch: [MessageSize], client: IMAPClient, uidValidity: UInt32) async throws {
        let bodies = try await client.bodies(uids: batch.map(\.uid))
        CrashPoint.reached(CrashPoint.afterIMAPFetch)
        // Known by fingerprint (seen under another UID: before a UIDVALIDITY change, or twice in
        // this batch) → acknowledged, not ingested again.
        var toSubmit: [(uid: UInt32, intake: PendingIntake)] = []
        var outcomes: [String] = []
        var seen = Set<String>()
        for message in batch {
            guard let raw = bodies[message.uid] else { continue } // expunged meanwhile
            let dedupeKey = Self.dedupeKey(source: source.id, folder: folder, uidValidity: uidValidity, uid: message.uid)
            // Parsed once here: the attachments become documents, the Message-ID feeds the fingerprint.
            var intake = MailIntake.pending(
                raw: raw, organization: source.organization, source: source.id, sourceKind: .imap,
                metadata: metadata(uid: message.uid, uidValidity: uidValidity), dedupeKey: dedupeKey, parser: parser
            )
            let fingerprint = MailFingerprint.make(messageID: intake.metadata["message_id"], raw: raw)
            intake.metadata["mail.fingerprint"] = fingerprint
            if !seen.insert(fingerprint).inserted {
                outcomes.append("duplicate")
                continue
            }
            if let known = try await store.intake(organization: source.organization, mailFingerprint: fingerprint), known.dedupeKey != dedupeKey {
                logger.info("Mailbox message already ingested under another UID", metadata: ["imap.uid": "\(message.uid)", "intake.id": "\(known.id)"])
                outcomes.append("duplicate")
                continue
            }
            toSubmit.append((message.uid, intake))
        }
        // Submitted together, so the committer writes them in one transaction.
        let submitted = try await withThrowingTaskGroup(of: String.self) { group in
            for item in toSubmit {
                group.addTask { try await ingest(item.intake, uid: item.uid) }
            }
            var results: [String] = []
            for try await outcome in group { results.append(outcome) }
            return results
        }
        outcomes += submitted
        CrashPoint.reached(CrashPoint.afterIMAPIntake)
        try await client.apply(settings.processed, uids: batch.map(\.uid).filter { bodies[$0] != nil })
        CrashPoint.reached(CrashPoint.afterIMAPAction)
        for outcome in outcomes { observer.message(source.id, folder, outcome) }
    }

    /// Records a message left on the server unprocessed (too large) and moves past it.
    private func skip(_ message: MessageSize, size: Int, reason: String, state: inout MailboxProgress) async throws {
        logger.warning("Mailbox message skipped", metadata: [
            "imap.uid": "\(message.uid)", "imap.size": "\(size)", "imap.skip_reason": "too_large",
        ])
        state.skipped.append(MailboxProgress.Skip(uid: message.uid, size: size, reason: reason, at: Date()))
        state.skipped = Array(state.skipped.suffix(MailboxProgress.skippedLimit))
        state.lastUID = message.uid
        try await save(state)
        health.update(source: source.id, folder: folder) { $0.skipped += 1 }
        observer.message(source.id, folder, "skipped_too_large")
    }

    /// Pieces of a streamed message: one `UID FETCH BODY.PEEK[]<offset.length>` each.
    public static let streamChunkBytes = 1 << 20

    /// One message above `stream_threshold_bytes`, alone: fetched in pieces straight into a blob
    /// (made durable before anything else happens), parsed from that file with its attachments
    /// streamed into blobs one at a time, committed, acknowledged — the same steps and dedupe
    /// keys as a batch, without the message ever being in memory.
    private func takeStreamed(_ message: MessageSize, client: IMAPClient, uidValidity: UInt32, state: inout MailboxProgress) async throws {
        let blobs = committer.blobs
        let writer = try blobs.makeWriter()
        let fetched: StreamedFetch
        do {
            fetched = try await client.stream(uid: message.uid, chunkSize: Self.streamChunkBytes, limit: settings.maxMessageBytes, into: writer)
        } catch {
            writer.discard()
            throw error
        }
        let raw: BlobRef
        switch fetched {
        case .gone:
            writer.discard()
            return
        case .tooLarge(let bytes):
            writer.discard()
            let reason = "message is more than \(settings.maxMessageBytes) bytes (max_message_bytes; \(bytes) read, the server reported \(message.size)); left on the server unprocessed"
            try await skip(message, size: bytes, reason: reason, state: &state)
            return
        case .complete(let bytes):
            if bytes != message.size {
                logger.notice("Mailbox message size differs from the server's RFC822.SIZE", metadata: [
                    "imap.uid": "\(message.uid)", "imap.size": "\(message.size)", "imap.size_read": "\(bytes)",
                ])
            }
            raw = try await writer.finish()
            logger.info("Mailbox message streamed to the blob store", metadata: ["imap.uid": "\(message.uid)", "imap.size": "\(bytes)"])
        }
        // The raw bytes are durable; nothing is committed yet.
        CrashPoint.reached(CrashPoint.afterIMAPFetch)
        let dedupeKey = Self.dedupeKey(source: source.id, folder: folder, uidValidity: uidValidity, uid: message.uid)
        var intake = try await MailIntake.pending(
            stored: raw, in: blobs, organization: source.organization, source: source.id, sourceKind: .imap,
            metadata: metadata(uid: message.uid, uidValidity: uidValidity), dedupeKey: dedupeKey, parser: parser
        )
        let fingerprint = MailFingerprint.make(messageID: intake.metadata["message_id"], sha256: raw.sha256)
        intake.metadata["mail.fingerprint"] = fingerprint
        intake.metadata["imap.streamed"] = "true"
        let outcome: String
        if let known = try await store.intake(organization: source.organization, mailFingerprint: fingerprint), known.dedupeKey != dedupeKey {
            logger.info("Mailbox message already ingested under another UID", metadata: ["imap.uid": "\(message.uid)", "intake.id": "\(known.id)"])
            outcome = "duplicate"
        } else {
            outcome = try await ingest(intake, uid: message.uid)
        }
        CrashPoint.reached(CrashPoint.afterIMAPIntake)
        try await client.apply(settings.processed, uids: [message.uid])
        CrashPoint.reached(CrashPoint.afterIMAPAction)
        observer.message(source.id, folder, outcome)
    }

    static func dedupeKey(source: String, folder: String, uidValidity: UInt32, uid: UInt32) -> String {
        "imap:\(source):\(folder):\(uidValidity):\(uid)"
    }

    /// What an IMAP intake records about where it came from.
    private func metadata(uid: UInt32, uidValidity: UInt32) -> [String: String] {
        [
            "imap.source": source.id, "imap.folder": folder, "imap.uid": "\(uid)", "imap.uidvalidity": "\(uidValidity)",
            "imap.account": "\(settings.username)@\(settings.host)",
        ]
    }

    /// Makes the message durable as an intake (or finds it was already); `ingested` or `duplicate`.
    private func ingest(_ intake: PendingIntake, uid: UInt32) async throws -> String {
        let result = try await committer.submit(intake)
        switch result {
        case .created(let intake):
            logger.info("Mailbox message ingested", metadata: ["imap.uid": "\(uid)", "intake.id": "\(intake.id)", "intake.size": "\(intake.rawSize)"])
            return "ingested"
        case .duplicate(let intake):
            logger.info("Mailbox message was already ingested", metadata: ["imap.uid": "\(uid)", "intake.id": "\(intake.id)"])
            return "duplicate"
        }
    }

    private func loadProgress() async throws -> MailboxProgress? {
        guard let text = try await store.sourceState(stateKey) else { return nil }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(MailboxProgress.self, from: Data(text.utf8))
        } catch {
            throw StoreError.invalid("mailbox progress \(stateKey) is unreadable: \(error)")
        }
    }

    private func save(_ progress: MailboxProgress) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .iso8601
        let text = String(decoding: try encoder.encode(progress), as: UTF8.self)
        try await store.setSourceState(stateKey, text)
    }
}
