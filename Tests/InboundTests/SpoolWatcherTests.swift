import Core
import Foundation
import Inbound
import Logging
import Mail
import Storage
import Testing

/// A spool folder and a real SQLite store with the daemon's tiered blob store, in a temp folder.
struct SpoolFixture {
    let directory: URL
    let store: SQLiteStore
    let blobs: TieredBlobStore
    let watcher: SpoolWatcher
    let pauses = SourcePauses()
    var spool: String { watcher.settings.path }

    init(maxMessageBytes: Int = 1 << 20) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-spool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logger = Logger(label: "test")
        store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: logger)
        blobs = TieredBlobStore(small: SQLiteBlobStore(store: store), large: try FileBlobStore(root: directory.appendingPathComponent("blobs").path))
        let committer = IntakeCommitter(store: store, blobs: blobs, maxBatch: 16, logger: logger)
        let settings = SpoolConfig(path: directory.appendingPathComponent("spool").path, pollInterval: 0.05, maxMessageBytes: maxMessageBytes)
        watcher = SpoolWatcher(source: "drop", organization: "demo", settings: settings, committer: committer, parser: { MessageParser() }, logger: logger, pauses: pauses)
        try watcher.prepare()
    }

    func drop(_ name: String, _ data: Data = MailIntakeTests.raw) throws {
        try data.write(to: URL(fileURLWithPath: spool + "/" + name))
    }

    func list(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    func intakeCount() async throws -> Int {
        try await store.counts().intakesByStatus.values.reduce(0, +)
    }

    func cleanup() { try? FileManager.default.removeItem(at: directory) }
}

@Suite("Spool folder")
struct SpoolWatcherTests {
    @Test("a paused spool source leaves its files in the folder until resumed")
    func pausedSourceWaits() async throws {
        let fixture = try SpoolFixture()
        defer { fixture.cleanup() }
        try fixture.drop("invoice.eml")
        fixture.pauses.set("drop", paused: true)
        #expect(await fixture.watcher.pass() == 0)
        #expect(fixture.list(fixture.spool).contains("invoice.eml"))
        #expect(try await fixture.intakeCount() == 0)
        fixture.pauses.set("drop", paused: false)
        #expect(await fixture.watcher.pass() == 1)
        #expect(try await fixture.intakeCount() == 1)
    }

    @Test("a dropped .eml becomes one spool intake with its documents and moves to done as <intake id>-<name>")
    func takesFile() async throws {
        let fixture = try SpoolFixture()
        defer { fixture.cleanup() }
        try fixture.drop("invoice.eml")
        #expect(await fixture.watcher.pass() == 1)

        let key = MailIntake.dedupeKey(source: "drop", messageID: "inv-17@example.com", raw: MailIntakeTests.raw)
        let found = try await fixture.store.intake(organization: "demo", dedupeKey: key)
        let intake = try #require(found)
        #expect(intake.sourceKind == .spool)
        #expect(intake.source == "drop")
        #expect(intake.contentType == "message/rfc822")
        #expect(intake.metadata["spool.file"] == "invoice.eml")
        let documents = try await fixture.store.documents(intakeID: intake.id)
        #expect(documents.map(\.filename) == ["invoice 17.pdf"])
        #expect(try await fixture.blobs.get(intake.rawBlob) == MailIntakeTests.raw)

        #expect(fixture.list(fixture.watcher.settings.doneDir) == ["\(intake.id)-invoice.eml"])
        #expect(fixture.list(fixture.watcher.processingDir).isEmpty)
        #expect(fixture.list(fixture.spool) == [".processing", "done", "failed"])
        #expect(await fixture.watcher.pass() == 0)
        #expect(try await fixture.intakeCount() == 1)
    }

    @Test("a file above 4 MiB is streamed into the blob store: same intake key, exact raw blob and documents, dropped twice is one intake")
    func largeFileIsStreamed() async throws {
        let fixture = try SpoolFixture(maxMessageBytes: 32 << 20)
        defer { fixture.cleanup() }
        let scan = LargeMail.bytes(5 << 20, seed: 3)
        let raw = LargeMail.message(subject: "spool scan", attachments: [("scan.pdf", "application/pdf", scan)])
        #expect(raw.count > MailIntake.streamThresholdBytes)
        try fixture.drop("scan.eml", raw)
        #expect(await fixture.watcher.pass() == 1)

        let parsed = try MessageParser().parse(raw)
        let key = MailIntake.dedupeKey(source: "drop", messageID: parsed.message.messageID, raw: raw)
        let intake = try #require(try await fixture.store.intake(organization: "demo", dedupeKey: key))
        #expect(intake.rawBlob == ContentHash.sha256(raw))
        #expect(intake.rawSize == raw.count)
        #expect(try await fixture.blobs.fileURL(for: intake.rawBlob) != nil)
        #expect(intake.metadata["message_id"] == parsed.message.messageID)
        let documents = try await fixture.store.documents(intakeID: intake.id)
        #expect(documents.map(\.filename) == ["scan.pdf"])
        #expect(documents.map(\.blob) == [ContentHash.sha256(scan)])
        #expect(try await fixture.blobs.get(documents[0].blob) == scan)
        #expect(fixture.list(fixture.watcher.settings.doneDir) == ["\(intake.id)-scan.eml"])
        #expect(fixture.list(fixture.directory.appendingPathComponent("blobs/tmp").path).isEmpty)

        try fixture.drop("again.eml", raw)
        #expect(await fixture.watcher.pass() == 1)
        #expect(try await fixture.intakeCount() == 1)
    }

    @Test("dot files and .tmp files are left alone until they are renamed")
    func ignoresUnfinished() async throws {
        let fixture = try SpoolFixture()
        defer { fixture.cleanup() }
        try fixture.drop(".incoming.eml")
        try fixture.drop("writing.eml.tmp")
        #expect(await fixture.watcher.pass() == 0)
        #expect(try await fixture.intakeCount() == 0)
        #expect(fixture.list(fixture.spool).contains(".incoming.eml"))
        #expect(fixture.list(fixture.spool).contains("writing.eml.tmp"))

        try FileManager.default.moveItem(atPath: fixture.spool + "/writing.eml.tmp", toPath: fixture.spool + "/writing.eml")
        #expect(await fixture.watcher.pass() == 1)
        #expect(try await fixture.intakeCount() == 1)
        #expect(fixture.list(fixture.spool).contains(".incoming.eml"))
    }

    @Test("an oversized file goes to failed with a reason and makes no intake")
    func oversized() async throws {
        let fixture = try SpoolFixture(maxMessageBytes: 100)
        defer { fixture.cleanup() }
        try fixture.drop("big.eml")
        #expect(await fixture.watcher.pass() == 1)
        #expect(try await fixture.intakeCount() == 0)
        let failed = fixture.list(fixture.watcher.settings.failedDir)
        #expect(failed.count == 2)
        let file = try #require(failed.first { $0.hasSuffix("-big.eml") })
        #expect(failed.contains(file + ".reason"))
        let reason = try String(contentsOfFile: fixture.watcher.settings.failedDir + "/" + file + ".reason", encoding: .utf8)
        #expect(reason.contains("over this source's max_message_bytes of 100"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.watcher.settings.failedDir + "/" + file)) == MailIntakeTests.raw)
        #expect(fixture.list(fixture.watcher.processingDir).isEmpty)
    }

    @Test("a file that cannot be read (a symbolic link, a link to nothing) goes to failed with a reason")
    func unreadable() async throws {
        let fixture = try SpoolFixture()
        defer { fixture.cleanup() }
        // Symbolic links are never followed, so running as root (which reads anything) still exercises this.
        try FileManager.default.createSymbolicLink(atPath: fixture.spool + "/dangling.eml", withDestinationPath: fixture.directory.path + "/missing")
        try FileManager.default.createSymbolicLink(atPath: fixture.spool + "/secret.eml", withDestinationPath: fixture.directory.appendingPathComponent("db.sqlite").path)
        #expect(await fixture.watcher.pass() == 2)
        #expect(try await fixture.intakeCount() == 0)
        let failed = fixture.list(fixture.watcher.settings.failedDir)
        #expect(failed.filter { $0.hasSuffix(".reason") }.count == 2)
        for reasonFile in failed where reasonFile.hasSuffix(".reason") {
            let reason = try String(contentsOfFile: fixture.watcher.settings.failedDir + "/" + reasonFile, encoding: .utf8)
            #expect(reason.contains("not a regular file"))
        }
    }

    @Test("a file left in .processing by a crash is submitted once; recovering again makes no second intake")
    func crashRecovery() async throws {
        let fixture = try SpoolFixture()
        defer { fixture.cleanup() }
        let processing = fixture.watcher.processingDir
        try MailIntakeTests.raw.write(to: URL(fileURLWithPath: processing + "/take_01KAAAAAAAAAAAAAAAAAAAAAAA-crashed.eml"))
        #expect(await fixture.watcher.recover() == 1)
        #expect(try await fixture.intakeCount() == 1)
        let done = fixture.list(fixture.watcher.settings.doneDir)
        #expect(done.count == 1)
        #expect(done.first?.hasSuffix("-crashed.eml") == true)

        // The crash came after the commit but before the move: the same bytes are there again.
        try MailIntakeTests.raw.write(to: URL(fileURLWithPath: processing + "/take_01KBBBBBBBBBBBBBBBBBBBBBBB-crashed.eml"))
        #expect(await fixture.watcher.recover() == 1)
        #expect(try await fixture.intakeCount() == 1)
        #expect(fixture.list(fixture.watcher.settings.doneDir) == done)
        #expect(fixture.list(processing).isEmpty)
        #expect(await fixture.watcher.recover() == 0)
    }

    @Test("the watcher service takes files dropped while it runs")
    func service() async throws {
        let fixture = try SpoolFixture()
        defer { fixture.cleanup() }
        let task = Task { try await fixture.watcher.run() }
        defer { task.cancel() }
        try fixture.drop("late.eml.tmp")
        try FileManager.default.moveItem(atPath: fixture.spool + "/late.eml.tmp", toPath: fixture.spool + "/late.eml")
        var count = 0
        for _ in 0..<200 where count == 0 {
            try await Task.sleep(for: .milliseconds(25))
            count = try await fixture.intakeCount()
        }
        #expect(count == 1)
    }
}
