import Core
import Foundation
// GRDB, like Logging, comes in through Storage; it is used here only to look at the file.
import GRDB
import Logging
@testable import Storage
import Testing

extension StoreContract {
    /// The contract against SQLite files in a fresh temporary directory.
    static let sqlite = StoreContract { retry, body in
        try await withTemporaryDirectory { directory in
            let clock = ManualWallClock()
            let path = directory + "/astralisd.sqlite"
            let open: @Sendable () throws -> SQLiteStore = {
                try SQLiteStore(path: path, clock: clock, retry: retry, logger: .quiet)
            }
            try await body(StoreHarness(clock: clock, store: try open(), reopen: { try open() }))
        }
    }
}

@Suite("SQLiteStore contract")
struct SQLiteStoreContractTests {
    let contract = StoreContract.sqlite

    @Test func intakeCreateAndDuplicate() async throws { try await contract.intakeCreateAndDuplicate() }
    @Test func retryAfterSchedulesTheNextAttempt() async throws { try await contract.retryAfterSchedulesTheNextAttempt() }
    @Test func webhookDeliveriesAndEndpointState() async throws { try await contract.webhookDeliveriesAndEndpointState() }
    @Test func followUpJobsAreQueuedOncePerDecision() async throws { try await contract.followUpJobsAreQueuedOncePerDecision() }
    @Test func intakeDuplicateAfterRestart() async throws { try await contract.intakeDuplicateAfterRestart() }
    @Test func duplicatesInsideOneBatch() async throws { try await contract.duplicatesInsideOneBatch() }
    @Test func processJobIsQueuedWithTheIntake() async throws { try await contract.processJobIsQueuedWithTheIntake() }
    @Test func documentOutcomes() async throws { try await contract.documentOutcomes() }
    @Test func processingInputReadsIntakeAndDocuments() async throws { try await contract.processingInputReadsIntakeAndDocuments() }
    @Test func recordIntakesRejectsMismatchedJobs() async throws { try await contract.recordIntakesRejectsMismatchedJobs() }
    @Test func intakeStatusUpdates() async throws { try await contract.intakeStatusUpdates() }
    @Test func commitDecisionIsIdempotent() async throws { try await contract.commitDecisionIsIdempotent() }
    @Test func bookingFlowTransactions() async throws { try await contract.bookingFlowTransactions() }
    @Test func commitDecisionCompletesTheClaimedJob() async throws { try await contract.commitDecisionCompletesTheClaimedJob() }
    @Test func intakeStatusFollowsItsProcessingJob() async throws { try await contract.intakeStatusFollowsItsProcessingJob() }
    @Test func failuresShowOnTheIntake() async throws { try await contract.failuresShowOnTheIntake() }
    @Test func purgeRemovesOnlyOldFinishedJobs() async throws { try await contract.purgeRemovesOnlyOldFinishedJobs() }
    @Test func commitDecisionWithoutItem() async throws { try await contract.commitDecisionWithoutItem() }
    @Test func commitDecisionRejectsUnknownStageAndIntake() async throws { try await contract.commitDecisionRejectsUnknownStageAndIntake() }
    @Test func moveItemAppendsAndRecordsActivity() async throws { try await contract.moveItemAppendsAndRecordsActivity() }
    @Test func itemsFilterAndPage() async throws { try await contract.itemsFilterAndPage() }
    @Test func syncPipelinesUpsertsAndReplacesStages() async throws { try await contract.syncPipelinesUpsertsAndReplacesStages() }
    @Test func countsAndPing() async throws { try await contract.countsAndPing() }
    @Test func repliesRecordOnceAndChangeState() async throws { try await contract.repliesRecordOnceAndChangeState() }
    @Test func bookingsInsertUpdateAndOverlap() async throws { try await contract.bookingsInsertUpdateAndOverlap() }
    @Test func bookingsListFilterAndPage() async throws { try await contract.bookingsListFilterAndPage() }

    @Test func leaseGivesAJobOnce() async throws { try await contract.leaseGivesAJobOnce() }
    @Test func leaseHonoursLimitAndOrder() async throws { try await contract.leaseHonoursLimitAndOrder() }
    @Test func concurrentLeasesNeverShareAJob() async throws { try await contract.concurrentLeasesNeverShareAJob() }
    @Test func expiredLeaseIsReclaimed() async throws { try await contract.expiredLeaseIsReclaimed() }
    @Test func expiredLeaseWithoutAttemptsLeftIsDeadLettered() async throws { try await contract.expiredLeaseWithoutAttemptsLeftIsDeadLettered() }
    @Test func backoffFollowsTheRetryPolicy() async throws { try await contract.backoffFollowsTheRetryPolicy() }
    @Test func permanentFailureDeadLettersAtOnce() async throws { try await contract.permanentFailureDeadLettersAtOnce() }
    @Test func runningOutOfAttemptsDeadLetters() async throws { try await contract.runningOutOfAttemptsDeadLetters() }
    @Test func deadLettersAreListedAndRetried() async throws { try await contract.deadLettersAreListedAndRetried() }
    @Test func delayedJobsWaitForTheirTime() async throws { try await contract.delayedJobsWaitForTheirTime() }
    @Test func releaseDoesNotCountTheAttempt() async throws { try await contract.releaseDoesNotCountTheAttempt() }
    @Test func heartbeatExtendsOnlyForTheOwner() async throws { try await contract.heartbeatExtendsOnlyForTheOwner() }
    @Test func staleOwnerCannotClobberTheNewLease() async throws { try await contract.staleOwnerCannotClobberTheNewLease() }
    @Test func statsCountByKindAndState() async throws { try await contract.statsCountByKindAndState() }
    @Test func enqueueIsIdempotentPerJobID() async throws { try await contract.enqueueIsIdempotentPerJobID() }
    @Test func adminTokensAndAudit() async throws { try await contract.adminTokensAndAudit() }
    @Test func adminPausesItemsAndDeadJobs() async throws { try await contract.adminPausesItemsAndDeadJobs() }
}

/// What only the SQLite backend has: file settings, jitter injection, source state, schema versions.
@Suite("SQLiteStore")
struct SQLiteStoreTests {
    @Test func inlineBlobsCommitWithTheirIntakes() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualWallClock()
            let store = try SQLiteStore(path: directory + "/db.sqlite", clock: clock, logger: .quiet)
            let body = Data(#"{"name":"Ada"}"#.utf8)
            var intake = Sample.intake("inline-1", at: clock.now())
            intake.rawBlob = SQLiteBlobStore(store: store).reference(for: body).sha256
            intake.rawSize = body.count
            let results = try await store.recordIntakes([NewIntake(intake: intake)], processJobs: [Sample.processJob(intake)], inlineBlobs: [body])
            #expect(results == [.created(intake)])
            let stored = try await store.pool.read { db in try Data.fetchAll(db, sql: "SELECT data FROM blobs") }
            #expect(stored == [body])
            let input = try #require(try await store.processingInput(intakeID: intake.id))
            #expect(input.inlineRaw == body, "the processing job gets the inline bytes with the intake, in one read")
            let ref = try await SQLiteBlobStore(store: store).put(body)
            #expect(try await SQLiteBlobStore(store: store).get(ref.sha256) == body, "the same content address as the blob store's")
            let stillOne = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM blobs") }
            #expect(stillOne == 1)

            await #expect(throws: StoreError.self) {
                _ = try await store.recordIntakes([NewIntake(intake: Sample.intake("inline-2", at: clock.now()))], processJobs: [Sample.processJob(intake)], inlineBlobs: [Data(count: store.inlineBlobLimit + 1)])
            }
        }
    }

    @Test func leasesCommitWithoutSyncAndLeaveTheWriterAtFull() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualWallClock()
            let store = try SQLiteStore(path: directory + "/db.sqlite", clock: clock, logger: .quiet)
            let intake = Sample.intake("lease-sync", at: clock.now())
            _ = try await store.recordIntakes([NewIntake(intake: intake)], processJobs: [Sample.processJob(intake)])
            let leased = try await store.lease(owner: "w", limit: 4, leaseDuration: 30)
            #expect(leased.count == 1)
            // 2 is FULL: the intake and decision commits after a lease still wait for the disk.
            let level = try await store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
            #expect(level == 2)
            // A lease whose body fails rolls back and also leaves FULL behind.
            await #expect(throws: StoreError.self) {
                try await store.unsyncedWrite("failing on purpose") { db in
                    try db.execute(sql: "UPDATE jobs SET state = 'ready'")
                    throw StoreError.conflict("on purpose")
                }
            }
            #expect(try await store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } == 2)
            #expect(try await store.job(id: leased[0].id)?.state == .leased, "the failed body's change was rolled back")
        }
    }

    @Test func concurrentDecisionsShareTransactionsButFailAlone() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualWallClock()
            let store = try SQLiteStore(path: directory + "/db.sqlite", clock: clock, logger: .quiet)
            try await store.syncPipelines(Sample.pipelines)
            var intakes: [Intake] = []
            for index in 0..<30 {
                let intake = Sample.intake("group-\(index)", at: clock.now())
                _ = try await store.recordIntakes([NewIntake(intake: intake)], processJobs: [Sample.processJob(intake)])
                intakes.append(intake)
            }
            let badRoute = Route(pipeline: Sample.route.pipeline, stage: "no-such-stage", titleTemplate: "x")
            let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
                for (index, intake) in intakes.enumerated() {
                    group.addTask {
                        let route = index == 7 ? badRoute : Sample.route
                        do {
                            _ = try await store.commitDecision(
                                intakeID: intake.id, decision: Sample.decision(),
                                item: NewPipelineItem(route: route, title: "item \(index)", description: nil, fields: .null),
                                status: .done, followUps: [], actor: "worker")
                            return (index, true)
                        } catch {
                            return (index, false)
                        }
                    }
                }
                var results: [Int: Bool] = [:]
                for await (index, ok) in group { results[index] = ok }
                return results
            }
            #expect(outcomes.filter { !$0.value }.map(\.key) == [7], "only the decision with the bad stage fails")
            #expect(try await store.items(ItemFilter(limit: 100)).count == 29)
            let failed = try #require(try await store.intake(id: intakes[7].id))
            #expect(failed.status == .received && failed.decision == nil, "the failed decision left nothing behind")
            #expect(try await store.intake(id: intakes[8].id)?.status == .done)
        }
    }

    @Test func writerIsDurable() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory + "/db.sqlite", logger: .quiet)
            let (journal, synchronous, foreignKeys) = try await store.pool.write { db in
                (
                    try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                    try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                    try Int.fetchOne(db, sql: "PRAGMA foreign_keys")
                )
            }
            #expect(journal == "wal")
            #expect(synchronous == 2, "synchronous should be FULL (2)")
            #expect(foreignKeys == 1)
        }
    }

    @Test func jitterIsDrawnFromTheInjectedSource() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualWallClock()
            let store = try SQLiteStore(
                path: directory + "/db.sqlite", clock: clock,
                retry: RetryPolicy(baseDelay: 10, maxDelay: 100, maxAttempts: 5, jitter: 0.5),
                jitter: { 0 }, logger: .quiet)
            let job = NewJob(kind: "test.jitter", payload: .null)
            try await store.enqueue([job])
            _ = try await store.lease(owner: "w", limit: 1, leaseDuration: 30)
            // Jitter 0.5 with a draw of 0 takes the shortest delay: half of the 10 s base.
            #expect(try await store.fail(jobID: job.id, owner: "w", error: "e", permanent: false) == .retryAt(clock.now().addingTimeInterval(5)))
        }
    }

    @Test func sourceStatePersists() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/db.sqlite"
            let store = try SQLiteStore(path: path, clock: ManualWallClock(), logger: .quiet)
            #expect(try await store.sourceState("imap:acme:INBOX") == nil)
            try await store.setSourceState("imap:acme:INBOX", #"{"uidvalidity":7,"uid":41}"#)
            try await store.setSourceState("imap:acme:INBOX", #"{"uidvalidity":7,"uid":42}"#)
            #expect(try await store.sourceState("imap:acme:INBOX") == #"{"uidvalidity":7,"uid":42}"#)

            let reopened = try SQLiteStore(path: path, clock: ManualWallClock(), logger: .quiet)
            #expect(try await reopened.sourceState("imap:acme:INBOX") == #"{"uidvalidity":7,"uid":42}"#)
            #expect(try await reopened.sourceState("imap:acme:Archive") == nil)
        }
    }

    @Test func sourceLeasesHaveOneOwnerUntilExpiry() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualWallClock()
            let store = try SQLiteStore(path: directory + "/db.sqlite", clock: clock, logger: .quiet)
            #expect(try await store.acquireLease("imap:mail:INBOX", owner: "a", duration: 60))
            #expect(try await store.acquireLease("imap:mail:INBOX", owner: "b", duration: 60) == false)
            #expect(try await store.acquireLease("imap:mail:Other", owner: "b", duration: 60))
            clock.advance(by: 30)
            #expect(try await store.acquireLease("imap:mail:INBOX", owner: "a", duration: 60), "the holder renews")
            clock.advance(by: 59)
            #expect(try await store.acquireLease("imap:mail:INBOX", owner: "b", duration: 60) == false)
            clock.advance(by: 2)
            #expect(try await store.acquireLease("imap:mail:INBOX", owner: "b", duration: 60), "an expired lease is taken over")
            try await store.releaseLease("imap:mail:INBOX", owner: "a")
            #expect(try await store.acquireLease("imap:mail:INBOX", owner: "a", duration: 60) == false, "only the holder releases")
            try await store.releaseLease("imap:mail:INBOX", owner: "b")
            #expect(try await store.acquireLease("imap:mail:INBOX", owner: "a", duration: 60))
        }
    }

    @Test func intakesAreFoundByMailFingerprint() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualWallClock()
            let store = try SQLiteStore(path: directory + "/db.sqlite", clock: clock, logger: .quiet)
            let intake = Intake(
                id: "in_1", organization: "demo", source: "mail", sourceKind: .imap, receivedAt: clock.now(),
                dedupeKey: "imap:mail:INBOX:7:1", rawBlob: String(repeating: "a", count: 64), rawSize: 3,
                contentType: "message/rfc822", metadata: ["mail.fingerprint": "<a@b>:abc"])
            _ = try await store.recordIntakes([NewIntake(intake: intake)], processJobs: [NewJob(kind: "intake.process", payload: .null)])
            #expect(try await store.intake(organization: "demo", mailFingerprint: "<a@b>:abc")?.id == "in_1")
            #expect(try await store.intake(organization: "other", mailFingerprint: "<a@b>:abc") == nil)
            #expect(try await store.intake(organization: "demo", mailFingerprint: "<a@b>:abd") == nil)
        }
    }

    @Test func missingDirectoryIsUnavailable() async throws {
        try await withTemporaryDirectory { directory in
            let error = #expect(throws: StoreError.self) {
                try SQLiteStore(path: directory + "/no/such/dir/db.sqlite", logger: .quiet)
            }
            #expect(error?.kind == .unavailable)
            #expect(error?.description.contains("no/such/dir") == true)
        }
    }

    @Test func databaseFromANewerVersionIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/db.sqlite"
            let store = try SQLiteStore(path: path, logger: .quiet)
            try await store.pool.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: ["v999"])
            }
            let error = #expect(throws: StoreError.self) {
                try SQLiteStore(path: path, logger: .quiet)
            }
            #expect(error?.kind == .unavailable)
        }
    }

    @Test func damagedRowsFailTheRequestNotTheProcess() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory + "/db.sqlite", clock: ManualWallClock(), logger: .quiet)
            try await store.enqueue([NewJob(id: "job-1", kind: "test", payload: .null)])
            try await store.pool.write { db in
                try db.execute(sql: "UPDATE jobs SET state = 'exploded', payload = '{' WHERE id = 'job-1'")
            }
            let error = await #expect(throws: StoreError.self) { try await store.job(id: "job-1") }
            #expect(error?.kind == .unavailable)
        }
    }

    @Test func errorsAreMappedForOperators() {
        let busy = SQLiteStore.storeError(DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked"), while: "leasing jobs")
        #expect((busy as? StoreError)?.kind == .unavailable)
        #expect("\(busy)".contains("leasing jobs"))

        let full = SQLiteStore.storeError(DatabaseError(resultCode: .SQLITE_FULL), while: "recording intakes")
        #expect("\(full)".contains("disk is full"))

        let constraint = SQLiteStore.storeError(
            DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "UNIQUE constraint failed: items.id", sql: "INSERT INTO items"),
            while: "committing a decision")
        #expect((constraint as? StoreError)?.kind == .conflict)
        #expect(!"\(constraint)".contains("INSERT"), "SQL text must not reach the message")

        let passthrough = SQLiteStore.storeError(StoreError.notFound("item x"), while: "moving an item")
        #expect(passthrough as? StoreError == .notFound("item x"))
    }
}
