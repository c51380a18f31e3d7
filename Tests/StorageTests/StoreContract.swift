import Core
import Foundation
import Testing

/// A backend under test, opened on a fresh empty database.
struct StoreHarness: Sendable {
    /// The clock the backend reads "now" from; the contract moves it by hand.
    let clock: ManualWallClock
    let store: any Store & JobQueue
    /// Opens the same database again, as a restarted daemon would.
    let reopen: @Sendable () async throws -> any Store & JobQueue
}

/// The behaviour every `Store & JobQueue` backend must show, written against the protocols only.
///
/// A backend's suite builds one with a `withBackend` that opens a fresh database (SQLite in a
/// temporary directory, later a scratch PostgreSQL schema), runs the case, and cleans up; it then
/// calls every case below from its own `@Test`.
struct StoreContract: Sendable {
    let withBackend: @Sendable (RetryPolicy, (StoreHarness) async throws -> Void) async throws -> Void

    /// No jitter, so backoff delays are exact.
    static let retry = RetryPolicy(baseDelay: 2, maxDelay: 60, maxAttempts: 5, jitter: 0)

    func run(retry: RetryPolicy = Self.retry, _ body: (StoreHarness) async throws -> Void) async throws {
        try await withBackend(retry, body)
    }

    // MARK: - Replies

    func repliesRecordOnceAndChangeState() async throws {
        try await run { h in
            let replies = try #require(h.store as? any ReplyStore, "the backend implements ReplyStore")
            let intake = try await Sample.record("mail-1", in: h)
            let now = h.clock.now()
            let record = ReplyRecord(
                id: ReplyRecord.key(intakeID: intake.id, template: "ack"), intakeID: intake.id, organization: "acme", template: "ack",
                account: "support", recipient: "Ada@Customer.example", messageID: "re-1@acme.example", state: .deferred,
                createdAt: now, updatedAt: now)
            let inserted = try await replies.insertReply(record)
            #expect(inserted)
            let again = try await replies.insertReply(record)
            #expect(again == false, "one record per intake and template")
            var stored = try #require(try await replies.reply(id: record.id))
            #expect(stored.recipient == "ada@customer.example")
            #expect(stored.state == .deferred)

            // Compare-and-set: only from the expected states.
            #expect(try await replies.updateReply(id: record.id, from: [.sent], ReplyTransition(to: .failed)) == nil)
            stored = try #require(try await replies.updateReply(id: record.id, from: [.deferred], ReplyTransition(to: .sending, countsAttempt: true)))
            #expect(stored.state == .sending)
            #expect(stored.attempts == 1)
            #expect(try await replies.updateReply(id: record.id, from: [.deferred], ReplyTransition(to: .sending, countsAttempt: true)) == nil)
            h.clock.advance(by: 5)
            stored = try #require(try await replies.updateReply(id: record.id, from: [.sending], ReplyTransition(to: .sent, serverReply: "250 2.0.0 OK")))
            #expect(stored.state == .sent)
            #expect(stored.serverReply == "250 2.0.0 OK")
            #expect(stored.sentAt == h.clock.now())
            #expect(stored.attempts == 1)

            // The rate limit counts sent / sending / unconfirmed replies per recipient since a time.
            #expect(try await replies.countReplies(recipient: "ADA@customer.example", since: now) == 1)
            #expect(try await replies.countReplies(recipient: "ada@customer.example", since: now.addingTimeInterval(1)) == 0)
            let other = try await Sample.record("mail-2", in: h)
            var suppressed = record
            suppressed.id = ReplyRecord.key(intakeID: other.id, template: "ack")
            suppressed.intakeID = other.id
            suppressed.messageID = "re-2@acme.example"
            suppressed.state = .suppressed
            suppressed.reason = "List-Id"
            let insertedSuppressed = try await replies.insertReply(suppressed)
            #expect(insertedSuppressed)
            #expect(try await replies.countReplies(recipient: "ada@customer.example", since: now) == 1)
            #expect(try await replies.replies(intakeID: other.id).map(\.reason) == ["List-Id"])
        }
    }

    // MARK: - Intakes

    func intakeCreateAndDuplicate() async throws {
        try await run { h in
            let first = Sample.intake("hook-1", at: h.clock.now())
            let created = try await h.store.recordIntakes([NewIntake(intake: first)], processJobs: [Sample.processJob(first)])
            #expect(created == [.created(first)])

            let again = Sample.intake("hook-1", at: h.clock.now())
            let duplicate = try await h.store.recordIntakes([NewIntake(intake: again)], processJobs: [Sample.processJob(again)])
            #expect(duplicate == [.duplicate(first)])
            #expect(try await h.store.intake(id: again.id) == nil)

            // Dedupe keys are per organization.
            let elsewhere = Sample.intake("hook-1", organization: "globex", at: h.clock.now())
            let other = try await h.store.recordIntakes([NewIntake(intake: elsewhere)], processJobs: [Sample.processJob(elsewhere)])
            #expect(other == [.created(elsewhere)])

            #expect(try await h.store.intake(id: first.id) == first)
            #expect(try await h.store.intake(organization: "acme", dedupeKey: "hook-1") == first)
            #expect(try await h.store.intake(organization: "acme", dedupeKey: "hook-2") == nil)
        }
    }

    func intakeDuplicateAfterRestart() async throws {
        try await run { h in
            let first = Sample.intake("imap:inbox:7:42", at: h.clock.now())
            _ = try await h.store.recordIntakes([NewIntake(intake: first)], processJobs: [Sample.processJob(first)])

            let restarted = try await h.reopen()
            let again = Sample.intake("imap:inbox:7:42", at: h.clock.now())
            let job = Sample.processJob(again)
            let results = try await restarted.recordIntakes([NewIntake(intake: again)], processJobs: [job])
            #expect(results == [.duplicate(first)])
            #expect(try await restarted.job(id: job.id) == nil)
            #expect(try await restarted.stats().total(.ready) == 1)
        }
    }

    func duplicatesInsideOneBatch() async throws {
        try await run { h in
            let a = Sample.intake("a", at: h.clock.now())
            let aAgain = Sample.intake("a", at: h.clock.now())
            let b = Sample.intake("b", at: h.clock.now())
            let jobs = [a, aAgain, b].map(Sample.processJob)
            let results = try await h.store.recordIntakes(
                [NewIntake(intake: a), NewIntake(intake: aAgain), NewIntake(intake: b)], processJobs: jobs)

            #expect(results == [.created(a), .duplicate(a), .created(b)])
            #expect(try await h.store.job(id: jobs[0].id) != nil)
            #expect(try await h.store.job(id: jobs[1].id) == nil)
            #expect(try await h.store.job(id: jobs[2].id) != nil)
            #expect(try await h.store.stats().total(.ready) == 2)
        }
    }

    /// The processing job's read: the intake with its documents in order; nil for an unknown id.
    func processingInputReadsIntakeAndDocuments() async throws {
        try await run { h in
            let intake = Sample.intake("processing-input", at: h.clock.now())
            let documents = Sample.documents(["first.pdf", "second.png"], of: intake, at: h.clock.now())
            _ = try await h.store.recordIntakes([NewIntake(intake: intake, documents: documents)], processJobs: [Sample.processJob(intake)])
            let input = try #require(try await h.store.processingInput(intakeID: intake.id))
            #expect(input.intake == intake)
            #expect(input.documents.map(\.filename) == ["first.pdf", "second.png"], "documents in their order")
            #expect(input.inlineRaw == nil, "the raw blob was never stored, so there are no inline bytes to return")
            #expect(try await h.store.processingInput(intakeID: "in_missing") == nil)
        }
    }

    /// Documents: pending → processing → an outcome; finished documents are not started again;
    /// outcomes (text, pages, thumbnail blob, fields) come back as stored, also after a reopen.
    func documentOutcomes() async throws {
        try await run { h in
            let docs = try #require(h.store as? any DocumentStore, "the backend must implement DocumentStore")
            let intake = Sample.intake("doc-outcomes", at: h.clock.now())
            let documents = Sample.documents(["a.pdf", "b.bin"], of: intake, at: h.clock.now())
            _ = try await h.store.recordIntakes([NewIntake(intake: intake, documents: documents)], processJobs: [Sample.processJob(intake)])
            #expect(try await docs.markDocumentProcessing(id: documents[0].id))
            #expect(try await docs.markDocumentProcessing(id: documents[0].id), "a retried job may start a processing document again")
            #expect(try await h.store.documents(intakeID: intake.id).map(\.status) == [.processing, .pending])
            let extraction = DocumentExtraction(
                detectedType: "pdf", pageCount: 2,
                pages: [PageExtraction(number: 1, source: .layer, characters: 40), PageExtraction(number: 2, source: .ocr, characters: 12, confidence: 88)],
                text: "Invoice 17\u{0C}Total 12.00", ocrConfidence: 88, languages: ["eng"])
            let completed = DocumentOutcome(
                status: .completed, detectedType: "pdf", extraction: extraction, thumbnailBlob: String(repeating: "f", count: 64),
                kind: "invoice", fields: .object(["total": .number(12)]))
            try await docs.recordDocumentOutcome(id: documents[0].id, completed)
            let refused = DocumentOutcome(status: .unsupported, reason: "elf files are not extracted", detectedType: "elf", typeMismatch: "named .bin")
            try await docs.recordDocumentOutcome(id: documents[1].id, refused)
            #expect(try await docs.markDocumentProcessing(id: documents[0].id) == false)
            #expect(try await docs.markDocumentProcessing(id: documents[1].id) == false)
            let stored = try await h.store.documents(intakeID: intake.id)
            #expect(stored.map(\.status) == [.completed, .unsupported])
            #expect(stored[1].statusReason == "elf files are not extracted")
            let outcomes = try await docs.documentOutcomes(intakeID: intake.id)
            #expect(outcomes == [documents[0].id: completed, documents[1].id: refused])
            let reopened = try #require(try await h.reopen() as? any DocumentStore)
            #expect(try await reopened.documentOutcomes(intakeID: intake.id)[documents[0].id]?.extraction?.text == "Invoice 17\u{0C}Total 12.00")
        }
    }

    func processJobIsQueuedWithTheIntake() async throws {
        try await run { h in
            let intake = Sample.intake("with-docs", at: h.clock.now())
            let documents = ["b.pdf", "a.png"].enumerated().map { index, name in
                Document(
                    id: "doc-\(index)-\(intake.id)", intakeID: intake.id, filename: name, declaredType: "application/pdf",
                    size: 10 + index, blob: String(repeating: "\(index)", count: 64), origin: "file\(index)",
                    createdAt: h.clock.now())
            }
            let job = Sample.processJob(intake)
            _ = try await h.store.recordIntakes([NewIntake(intake: intake, documents: documents)], processJobs: [job])

            let stored = try #require(try await h.store.job(id: job.id))
            #expect(stored.kind == JobKind.processIntake)
            #expect(stored.payload == .object(["intake": .string(intake.id)]))
            #expect(stored.state == .ready)
            #expect(stored.attempts == 0)
            #expect(stored.maxAttempts == Self.retry.maxAttempts)
            #expect(stored.runAt == h.clock.now())
            // Documents come back in the order they arrived.
            #expect(try await h.store.documents(intakeID: intake.id) == documents)
        }
    }

    func recordIntakesRejectsMismatchedJobs() async throws {
        try await run { h in
            let intake = Sample.intake("lonely", at: h.clock.now())
            await expectStoreError(.invalid) {
                try await h.store.recordIntakes([NewIntake(intake: intake)], processJobs: [])
            }
            let stored = try await h.store.intake(id: intake.id)
            #expect(stored == nil)
        }
    }

    func intakeStatusUpdates() async throws {
        try await run { h in
            let intake = Sample.intake("status", at: h.clock.now())
            _ = try await h.store.recordIntakes([NewIntake(intake: intake)], processJobs: [Sample.processJob(intake)])
            h.clock.advance(by: 5)
            try await h.store.setIntakeStatus(id: intake.id, status: .failed, reason: "unreadable body")

            let stored = try #require(try await h.store.intake(id: intake.id))
            #expect(stored.status == .failed)
            #expect(stored.statusReason == "unreadable body")
            #expect(stored.updatedAt == h.clock.now())
            await expectStoreError(.notFound) {
                try await h.store.setIntakeStatus(id: "in_missing", status: .done, reason: nil)
            }
        }
    }

    // MARK: - Decisions and items

    func commitDecisionIsIdempotent() async throws {
        try await run { h in
            try await h.store.syncPipelines(Sample.pipelines)
            let intake = try await Sample.record("lead-1", in: h)
            let followUp = NewJob(kind: "reply.send", payload: .object(["intake": .string(intake.id)]))
            let item = NewPipelineItem(route: Sample.route, title: "Ada Lovelace", description: "wants a demo", fields: .object(["name": .string("Ada")]))

            let first = try #require(try await h.store.commitDecision(
                intakeID: intake.id, decision: Sample.decision(), item: item, status: .routed, followUps: [followUp], actor: "worker"))
            #expect(first.id == item.id)
            #expect(first.organization == "acme")
            #expect(first.pipeline == "sales")
            #expect(first.stage == "new")
            #expect(first.position == 0)
            #expect(first.priority == .high)
            #expect(first.assignee == "ana")
            #expect(first.tags == ["lead"])
            #expect(first.title == "Ada Lovelace")
            #expect(first.description == "wants a demo")
            #expect(first.intakeID == intake.id)
            #expect(first.fields == .object(["name": .string("Ada")]))
            #expect(first.createdAt == h.clock.now())

            let routed = try #require(try await h.store.intake(id: intake.id))
            #expect(routed.status == .routed)
            #expect(routed.decision == Sample.decision())
            #expect(routed.itemID == item.id)
            #expect(try await h.store.job(id: followUp.id)?.kind == "reply.send")

            // The processing job runs again (its worker died after the commit): same answer, no changes.
            h.clock.advance(by: 10)
            let secondFollowUp = NewJob(kind: "reply.send", payload: .null)
            let second = try await h.store.commitDecision(
                intakeID: intake.id, decision: Sample.decision(), item: NewPipelineItem(route: Sample.route, title: "other", description: nil, fields: .null),
                status: .done, followUps: [secondFollowUp], actor: "worker")
            #expect(second == first)
            #expect(try await h.store.items(ItemFilter()) == [first])
            #expect(try await h.store.intake(id: intake.id) == routed)
            #expect(try await h.store.job(id: secondFollowUp.id) == nil)

            let activity = try await h.store.activity(itemID: item.id)
            #expect(activity.count == 1)
            #expect(activity.first?.action == "item.created")
            #expect(activity.first?.actor == "worker")
            #expect(activity.first?.intakeID == intake.id)
            #expect(activity.first?.detail == "created in sales/new by default-route")
        }
    }

    func commitDecisionCompletesTheClaimedJob() async throws {
        try await run { h in
            try await h.store.syncPipelines(Sample.pipelines)
            let intake = try await Sample.record("lead-claim", in: h)
            let leased = try await h.store.lease(owner: "w1", limit: 10, leaseDuration: 30)
            let job = try #require(leased.first)
            let item = NewPipelineItem(route: Sample.route, title: "Claimed", description: nil, fields: .null)
            _ = try await h.store.commitDecision(
                intakeID: intake.id, decision: Sample.decision(), item: item, status: .done, followUps: [], actor: "worker",
                completing: JobClaim(jobID: job.id, owner: "w1"))
            #expect(try await h.store.job(id: job.id)?.state == .done, "the job is done in the decision's transaction")
            #expect(try await h.store.lease(owner: "w2", limit: 10, leaseDuration: 30).isEmpty)

            // A claim whose lease was lost (another worker took the job over) leaves that job alone.
            let other = try await Sample.record("lead-claim-2", in: h)
            let second = try #require(try await h.store.lease(owner: "w1", limit: 10, leaseDuration: 30).first)
            h.clock.advance(by: 31)
            let takenOver = try #require(try await h.store.lease(owner: "w2", limit: 10, leaseDuration: 30).first)
            #expect(takenOver.id == second.id)
            _ = try await h.store.commitDecision(
                intakeID: other.id, decision: Sample.decision(), item: nil, status: .review, followUps: [], actor: "worker",
                completing: JobClaim(jobID: second.id, owner: "w1"))
            let stillLeased = try await h.store.job(id: second.id)
            #expect(stillLeased?.state == .leased && stillLeased?.leaseOwner == "w2")
        }
    }

    func commitDecisionWithoutItem() async throws {
        try await run { h in
            try await h.store.syncPipelines(Sample.pipelines)
            let intake = try await Sample.record("for-review", in: h)
            let review = Decision(outcome: .review, route: nil, decidedBy: "rule:unsure", trace: ["no rule matched"])
            let followUp = NewJob(kind: "notify.reviewers", payload: .null)

            let made = try await h.store.commitDecision(
                intakeID: intake.id, decision: review, item: nil, status: .review, followUps: [followUp], actor: "worker")
            #expect(made == nil)
            let stored = try #require(try await h.store.intake(id: intake.id))
            #expect(stored.status == .review)
            #expect(stored.decision == review)
            #expect(stored.itemID == nil)
            #expect(try await h.store.job(id: followUp.id) != nil)

            // Committing again queues nothing twice.
            let again = NewJob(kind: "notify.reviewers", payload: .null)
            #expect(try await h.store.commitDecision(
                intakeID: intake.id, decision: review, item: nil, status: .review, followUps: [again], actor: "worker") == nil)
            #expect(try await h.store.job(id: again.id) == nil)
            #expect(try await h.store.items(ItemFilter()).isEmpty)
        }
    }

    func commitDecisionRejectsUnknownStageAndIntake() async throws {
        try await run { h in
            try await h.store.syncPipelines(Sample.pipelines)
            let intake = try await Sample.record("bad-route", in: h)
            var route = Sample.route
            route.stage = "nowhere"
            let item = NewPipelineItem(route: route, title: "t", description: nil, fields: .null)

            await expectStoreError(.invalid) {
                try await h.store.commitDecision(
                    intakeID: intake.id, decision: Sample.decision(route), item: item, status: .routed, followUps: [], actor: "worker")
            }
            // Nothing of the failed commit is left behind.
            #expect(try await h.store.intake(id: intake.id) == intake)
            #expect(try await h.store.items(ItemFilter()).isEmpty)

            await expectStoreError(.notFound) {
                try await h.store.commitDecision(
                    intakeID: "in_missing", decision: Sample.decision(), item: nil, status: .routed, followUps: [], actor: "worker")
            }
        }
    }

    func moveItemAppendsAndRecordsActivity() async throws {
        try await run { h in
            try await h.store.syncPipelines(Sample.pipelines)
            let first = try await Sample.makeItem("m1", in: h)
            let second = try await Sample.makeItem("m2", in: h)
            #expect(first.position == 0)
            #expect(second.position == 1)

            h.clock.advance(by: 60)
            let moved = try await h.store.moveItem(id: first.id, toStage: "qualified", actor: "ana")
            #expect(moved.stage == "qualified")
            #expect(moved.position == 0)
            #expect(moved.updatedAt == h.clock.now())
            #expect(try await h.store.item(id: first.id) == moved)

            let movedSecond = try await h.store.moveItem(id: second.id, toStage: "qualified", actor: "ana")
            #expect(movedSecond.position == 1)

            let activity = try await h.store.activity(itemID: first.id)
            #expect(activity.map(\.action) == ["item.created", "item.moved"])
            #expect(activity.last?.detail == "new → qualified")
            #expect(activity.last?.actor == "ana")
            #expect(activity.last?.at == h.clock.now())

            // A stage of another pipeline is not a stage of this item's pipeline.
            await expectStoreError(.invalid) {
                try await h.store.moveItem(id: first.id, toStage: "open", actor: "ana")
            }
            await expectStoreError(.notFound) {
                try await h.store.moveItem(id: "it_missing", toStage: "won", actor: "ana")
            }
            #expect(try await h.store.activity(itemID: first.id).count == 2)
        }
    }

    func itemsFilterAndPage() async throws {
        try await run { h in
            try await h.store.syncPipelines(Sample.pipelines)
            var route = Sample.route
            let one = try await Sample.makeItem("f1", route: route, in: h)
            route.assignee = "bob"
            let two = try await Sample.makeItem("f2", route: route, in: h)
            route.assignee = "ana"
            route.stage = "qualified"
            let three = try await Sample.makeItem("f3", route: route, in: h)
            let four = try await Sample.makeItem(
                "f4", route: Route(pipeline: "support", stage: "open", titleTemplate: "t"), in: h)
            let five = try await Sample.makeItem("f5", organization: "globex", route: Sample.route, in: h)

            func ids(_ filter: ItemFilter) async throws -> [String] {
                try await h.store.items(filter).map(\.id)
            }
            #expect(try await ids(ItemFilter()) == [five, four, three, two, one].map(\.id))
            #expect(try await ids(ItemFilter(organization: "acme")) == [four, three, two, one].map(\.id))
            #expect(try await ids(ItemFilter(organization: "acme", pipeline: "sales")) == [three, two, one].map(\.id))
            #expect(try await ids(ItemFilter(organization: "acme", pipeline: "sales", stage: "new")) == [two, one].map(\.id))
            #expect(try await ids(ItemFilter(assignee: "ana")) == [five, three, one].map(\.id))
            #expect(try await ids(ItemFilter(limit: 0)).isEmpty)

            #expect(try await ids(ItemFilter(limit: 2)) == [five, four].map(\.id))
            #expect(try await ids(ItemFilter(limit: 2, before: four.id)) == [three, two].map(\.id))
            #expect(try await ids(ItemFilter(limit: 2, before: two.id)) == [one.id])
            #expect(try await ids(ItemFilter(limit: 2, before: one.id)).isEmpty)
        }
    }

    func syncPipelinesUpsertsAndReplacesStages() async throws {
        try await run { h in
            try await h.store.syncPipelines(Sample.pipelines)
            #expect(try await h.store.pipelines(organization: "acme") == Sample.pipelines.filter { $0.organization == "acme" })
            #expect(try await h.store.pipelines(organization: nil) == Sample.pipelines)

            // Reload with renamed and reordered stages: the new order wins, nothing is duplicated.
            let revised = Pipeline(
                id: "sales", organization: "acme", name: "Sales (EU)",
                stages: [Stage(id: "qualified", name: "Qualified"), Stage(id: "new", name: "Fresh")])
            try await h.store.syncPipelines([revised])
            let acme = try await h.store.pipelines(organization: "acme")
            #expect(acme.first == revised)
            #expect(acme.count == 2)
            #expect(try await h.store.pipelines(organization: "globex").map(\.id) == ["sales"])
            #expect(try await h.store.pipelines(organization: "initech").isEmpty)
        }
    }

    func countsAndPing() async throws {
        try await run { h in
            try await h.store.ping()
            #expect(try await h.store.counts() == StoreCounts(intakesByStatus: [:], items: 0))

            try await h.store.syncPipelines(Sample.pipelines)
            _ = try await Sample.makeItem("c1", in: h)
            _ = try await Sample.record("c2", in: h)
            _ = try await Sample.record("c3", in: h)
            #expect(try await h.store.counts() == StoreCounts(intakesByStatus: ["routed": 1, "received": 2], items: 1))
        }
    }

    // MARK: - Queue

    func leaseGivesAJobOnce() async throws {
        try await run { h in
            let job = NewJob(kind: "test.once", payload: .object(["n": .number(1)]))
            try await h.store.enqueue([job])

            let leased = try await h.store.lease(owner: "w1", limit: 10, leaseDuration: 30)
            #expect(leased.map(\.id) == [job.id])
            let got = try #require(leased.first)
            #expect(got.state == .leased)
            #expect(got.attempts == 1)
            #expect(got.leaseOwner == "w1")
            #expect(got.leaseExpiresAt == h.clock.now().addingTimeInterval(30))
            #expect(got.payload == job.payload)
            #expect(try await h.store.job(id: job.id) == got)

            #expect(try await h.store.lease(owner: "w1", limit: 10, leaseDuration: 30).isEmpty)
            #expect(try await h.store.lease(owner: "w2", limit: 10, leaseDuration: 30).isEmpty)
            #expect(try await h.store.lease(owner: "w2", limit: 0, leaseDuration: 30).isEmpty)
        }
    }

    func leaseHonoursLimitAndOrder() async throws {
        try await run { h in
            let later = NewJob(id: "job-later", kind: "test.order", payload: .null, runAt: h.clock.now().addingTimeInterval(-10))
            let earliest = NewJob(id: "job-earliest", kind: "test.order", payload: .null, runAt: h.clock.now().addingTimeInterval(-20))
            let now = NewJob(id: "job-now", kind: "test.order", payload: .null)
            try await h.store.enqueue([now, later, earliest])

            #expect(try await h.store.lease(owner: "w", limit: 2, leaseDuration: 30).map(\.id) == ["job-earliest", "job-later"])
            #expect(try await h.store.lease(owner: "w", limit: 2, leaseDuration: 30).map(\.id) == ["job-now"])
        }
    }

    func concurrentLeasesNeverShareAJob() async throws {
        try await run { h in
            let jobs = (0..<40).map { NewJob(kind: "test.race", payload: .number(Double($0))) }
            try await h.store.enqueue(jobs)

            let store = h.store
            @Sendable func drain(_ owner: String) async throws -> [String] {
                var ids: [String] = []
                while true {
                    let batch = try await store.lease(owner: owner, limit: 3, leaseDuration: 60)
                    if batch.isEmpty { return ids }
                    #expect(batch.allSatisfy { $0.leaseOwner == owner })
                    ids += batch.map(\.id)
                }
            }
            async let a = drain("worker-a")
            async let b = drain("worker-b")
            let (fromA, fromB) = try await (a, b)

            #expect(Set(fromA).isDisjoint(with: fromB))
            #expect(fromA.count + fromB.count == jobs.count)
            #expect(Set(fromA + fromB) == Set(jobs.map(\.id)))
        }
    }

    func expiredLeaseIsReclaimed() async throws {
        try await run { h in
            let job = NewJob(kind: "test.crash", payload: .null)
            try await h.store.enqueue([job])
            _ = try await h.store.lease(owner: "dead-worker", limit: 1, leaseDuration: 30)

            h.clock.advance(by: 29)
            #expect(try await h.store.lease(owner: "w2", limit: 1, leaseDuration: 30).isEmpty)

            h.clock.advance(by: 1)
            let reclaimed = try await h.store.lease(owner: "w2", limit: 1, leaseDuration: 30)
            #expect(reclaimed.map(\.id) == [job.id])
            #expect(reclaimed.first?.attempts == 2)
            #expect(reclaimed.first?.leaseOwner == "w2")
            #expect(reclaimed.first?.leaseExpiresAt == h.clock.now().addingTimeInterval(30))
        }
    }

    func expiredLeaseWithoutAttemptsLeftIsDeadLettered() async throws {
        try await run { h in
            let job = NewJob(kind: "test.poison", payload: .null, maxAttempts: 1)
            try await h.store.enqueue([job])
            #expect(try await h.store.lease(owner: "w1", limit: 1, leaseDuration: 30).count == 1)

            h.clock.advance(by: 31)
            #expect(try await h.store.lease(owner: "w2", limit: 1, leaseDuration: 30).isEmpty)
            let dead = try #require(try await h.store.job(id: job.id))
            #expect(dead.state == .dead)
            #expect(dead.leaseOwner == nil)
            #expect(dead.lastError == "lease expired after 1 attempts (worker lost)")
            #expect(try await h.store.deadLetters(limit: 10).map(\.id) == [job.id])
        }
    }

    func intakeStatusFollowsItsProcessingJob() async throws {
        try await run { h in
            let intake = try await Sample.record("lead-status", in: h)
            #expect(try await h.store.intake(id: intake.id)?.status == .received)
            let job = try #require(try await h.store.lease(owner: "w1", limit: 1, leaseDuration: 30).first)
            #expect(try await h.store.intake(id: intake.id)?.status == .processing, "leasing the job marks the intake in the same transaction")
            try await h.store.release(jobID: job.id, owner: "w1")
            #expect(try await h.store.intake(id: intake.id)?.status == .received, "a released job puts its intake back")
            _ = try await h.store.lease(owner: "w1", limit: 1, leaseDuration: 30)

            // A job of another kind never touches intakes.
            try await h.store.enqueue([NewJob(kind: "reply.send", payload: .object(["intake": .string(intake.id)]))])
            try await h.store.setIntakeStatus(id: intake.id, status: .done, reason: nil)
            _ = try await h.store.lease(owner: "w1", limit: 5, leaseDuration: 30)
            #expect(try await h.store.intake(id: intake.id)?.status == .done)

            // A processing job whose lease expires with no attempts left fails its intake.
            let poisoned = Sample.intake("lead-poison", at: h.clock.now())
            _ = try await h.store.recordIntakes([NewIntake(intake: poisoned)], processJobs: [NewJob(kind: JobKind.processIntake, payload: .object(["intake": .string(poisoned.id)]), maxAttempts: 1)])
            _ = try await h.store.lease(owner: "w1", limit: 5, leaseDuration: 30)
            #expect(try await h.store.intake(id: poisoned.id)?.status == .processing)
            h.clock.advance(by: 31)
            _ = try await h.store.lease(owner: "w2", limit: 5, leaseDuration: 30)
            let failed = try #require(try await h.store.intake(id: poisoned.id))
            #expect(failed.status == .failed)
            #expect(failed.statusReason?.contains("lease expired after 1 attempts") == true, "\(String(describing: failed.statusReason))")
            _ = job
        }
    }

    func failuresShowOnTheIntake() async throws {
        try await run { h in
            let intake = try await Sample.record("lead-fails", in: h)
            let job = try #require(try await h.store.lease(owner: "w1", limit: 1, leaseDuration: 30).first)
            _ = try await h.store.fail(jobID: job.id, owner: "w1", error: "blob store timed out", permanent: false)
            let retrying = try #require(try await h.store.intake(id: intake.id))
            #expect(retrying.status == .processing)
            #expect(retrying.statusReason == "attempt 1 failed, retrying: blob store timed out")

            h.clock.advance(by: 3600)
            let again = try #require(try await h.store.lease(owner: "w1", limit: 1, leaseDuration: 30).first)
            #expect(again.id == job.id)
            _ = try await h.store.fail(jobID: job.id, owner: "w1", error: "payload cannot be decoded", permanent: true)
            let failed = try #require(try await h.store.intake(id: intake.id))
            #expect(failed.status == .failed)
            #expect(failed.statusReason == "processing failed: payload cannot be decoded")
        }
    }

    func purgeRemovesOnlyOldFinishedJobs() async throws {
        try await run { h in
            let old = [NewJob(kind: "test.a", payload: .null), NewJob(kind: "test.a", payload: .null)]
            let poison = NewJob(kind: "test.poison", payload: .null, maxAttempts: 1)
            try await h.store.enqueue(old + [poison])
            for job in try await h.store.lease(owner: "w", limit: 10, leaseDuration: 30) {
                if job.id == poison.id {
                    _ = try await h.store.fail(jobID: job.id, owner: "w", error: "bad", permanent: true)
                } else {
                    try await h.store.complete(jobID: job.id, owner: "w")
                }
            }
            h.clock.advance(by: 10 * 86_400)
            let recent = NewJob(kind: "test.a", payload: .null)
            let waiting = NewJob(kind: "test.a", payload: .null, runAt: h.clock.now().addingTimeInterval(3600))
            try await h.store.enqueue([recent, waiting])
            let leased = try #require(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30).first)
            #expect(leased.id == recent.id)
            try await h.store.complete(jobID: recent.id, owner: "w")

            let cutoff = h.clock.now().addingTimeInterval(-86_400)
            #expect(try await h.store.purgeDoneJobs(finishedBefore: cutoff, limit: 1) == 1, "the limit bounds one call")
            #expect(try await h.store.purgeDoneJobs(finishedBefore: cutoff, limit: 100) == 1)
            #expect(try await h.store.purgeDoneJobs(finishedBefore: cutoff, limit: 100) == 0)
            for job in old { #expect(try await h.store.job(id: job.id) == nil) }
            #expect(try await h.store.job(id: recent.id)?.state == .done, "recently finished jobs stay")
            #expect(try await h.store.job(id: poison.id)?.state == .dead, "dead letters are never purged")
            #expect(try await h.store.job(id: waiting.id)?.state == .ready)
        }
    }

    func backoffFollowsTheRetryPolicy() async throws {
        let policy = RetryPolicy(baseDelay: 2, maxDelay: 60, maxAttempts: 10, jitter: 0)
        try await withBackend(policy) { h in
            let job = NewJob(kind: "test.flaky", payload: .null)
            try await h.store.enqueue([job])

            for (index, delay) in [2.0, 4, 8, 16, 32, 60, 60].enumerated() {
                let leased = try await h.store.lease(owner: "w", limit: 5, leaseDuration: 30)
                #expect(leased.map(\.id) == [job.id])
                #expect(leased.first?.attempts == index + 1)

                let outcome = try await h.store.fail(jobID: job.id, owner: "w", error: "timeout \(index)", permanent: false)
                #expect(outcome == .retryAt(h.clock.now().addingTimeInterval(delay)))
                let waiting = try #require(try await h.store.job(id: job.id))
                #expect(waiting.state == .ready)
                #expect(waiting.leaseOwner == nil)
                #expect(waiting.lastError == "timeout \(index)")

                h.clock.advance(by: delay - 1)
                #expect(try await h.store.lease(owner: "w", limit: 5, leaseDuration: 30).isEmpty, "leased \(delay - 1)s into a \(delay)s backoff")
                h.clock.advance(by: 1)
            }
            #expect(try await h.store.lease(owner: "w", limit: 5, leaseDuration: 30).first?.attempts == 8)
        }
    }

    func permanentFailureDeadLettersAtOnce() async throws {
        try await run { h in
            let job = NewJob(kind: "test.bad-input", payload: .null)
            try await h.store.enqueue([job])
            _ = try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30)

            let outcome = try await h.store.fail(jobID: job.id, owner: "w", error: "payload has no intake id", permanent: true)
            #expect(outcome == .dead)
            let dead = try #require(try await h.store.job(id: job.id))
            #expect(dead.state == .dead)
            #expect(dead.attempts == 1)
            #expect(dead.lastError == "payload has no intake id")
            #expect(dead.leaseOwner == nil)

            h.clock.advance(by: 3600)
            #expect(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30).isEmpty)
        }
    }

    func runningOutOfAttemptsDeadLetters() async throws {
        try await run { h in
            let job = NewJob(kind: "test.flaky", payload: .null, maxAttempts: 2)
            try await h.store.enqueue([job])

            _ = try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30)
            #expect(try await h.store.fail(jobID: job.id, owner: "w", error: "first", permanent: false) == .retryAt(h.clock.now().addingTimeInterval(2)))
            h.clock.advance(by: 2)
            #expect(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30).first?.attempts == 2)
            #expect(try await h.store.fail(jobID: job.id, owner: "w", error: "second", permanent: false) == .dead)

            let dead = try #require(try await h.store.job(id: job.id))
            #expect(dead.state == .dead)
            #expect(dead.lastError == "second")
        }
    }

    func deadLettersAreListedAndRetried() async throws {
        try await run { h in
            try await h.store.enqueue([NewJob(kind: "test.dead", payload: .null), NewJob(kind: "test.dead", payload: .null)])
            var deadInOrder: [String] = []
            for _ in 0..<2 {
                let job = try #require(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30).first)
                try await h.store.fail(jobID: job.id, owner: "w", error: "broken", permanent: true)
                deadInOrder.append(job.id)
                h.clock.advance(by: 1)
            }
            // Most recently dead-lettered first.
            let order = try await h.store.deadLetters(limit: 10).map(\.id)
            try #require(order == Array(deadInOrder.reversed()))
            #expect(try await h.store.deadLetters(limit: 1).map(\.id) == [order[0]])
            #expect(try await h.store.deadLetters(limit: 0).isEmpty)

            try await h.store.retry(jobID: order[1])
            let revived = try #require(try await h.store.job(id: order[1]))
            #expect(revived.state == .ready)
            #expect(revived.attempts == 0)
            #expect(revived.runAt == h.clock.now())
            #expect(try await h.store.deadLetters(limit: 10).map(\.id) == [order[0]])

            let leased = try await h.store.lease(owner: "w", limit: 5, leaseDuration: 30)
            #expect(leased.map(\.id) == [order[1]])
            #expect(leased.first?.attempts == 1)

            await expectStoreError(.conflict) { try await h.store.retry(jobID: order[1]) }
            await expectStoreError(.notFound) { try await h.store.retry(jobID: "job_missing") }
        }
    }

    func delayedJobsWaitForTheirTime() async throws {
        try await run { h in
            let reminder = NewJob(kind: "reminder.send", payload: .null, runAt: h.clock.now().addingTimeInterval(60))
            try await h.store.enqueue([reminder])
            #expect(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30).isEmpty)
            h.clock.advance(by: 59)
            #expect(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30).isEmpty)
            h.clock.advance(by: 1)
            #expect(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30).map(\.id) == [reminder.id])
        }
    }

    func releaseDoesNotCountTheAttempt() async throws {
        try await run { h in
            let job = NewJob(kind: "test.shutdown", payload: .null, runAt: h.clock.now().addingTimeInterval(-5))
            try await h.store.enqueue([job])
            #expect(try await h.store.lease(owner: "w1", limit: 1, leaseDuration: 30).first?.attempts == 1)

            h.clock.advance(by: 3)
            try await h.store.release(jobID: job.id, owner: "w1")
            let released = try #require(try await h.store.job(id: job.id))
            #expect(released.state == .ready)
            #expect(released.attempts == 0)
            #expect(released.leaseOwner == nil)
            #expect(released.leaseExpiresAt == nil)
            #expect(released.runAt == h.clock.now())

            #expect(try await h.store.lease(owner: "w2", limit: 1, leaseDuration: 30).first?.attempts == 1)
        }
    }

    func heartbeatExtendsOnlyForTheOwner() async throws {
        try await run { h in
            let job = NewJob(kind: "test.long", payload: .null)
            try await h.store.enqueue([job])
            _ = try await h.store.lease(owner: "w1", limit: 1, leaseDuration: 30)

            h.clock.advance(by: 20)
            #expect(try await h.store.heartbeat(jobID: job.id, owner: "w1", leaseDuration: 30))
            #expect(try await h.store.job(id: job.id)?.leaseExpiresAt == h.clock.now().addingTimeInterval(30))
            #expect(try await !h.store.heartbeat(jobID: job.id, owner: "w2", leaseDuration: 30))
            #expect(try await !h.store.heartbeat(jobID: "job_missing", owner: "w1", leaseDuration: 30))

            // Past the original expiry, but the heartbeat moved it: nobody else gets the job.
            h.clock.advance(by: 20)
            #expect(try await h.store.lease(owner: "w2", limit: 1, leaseDuration: 30).isEmpty)

            // Once lost, the old owner cannot extend it any more.
            h.clock.advance(by: 11)
            #expect(try await h.store.lease(owner: "w2", limit: 1, leaseDuration: 30).count == 1)
            #expect(try await !h.store.heartbeat(jobID: job.id, owner: "w1", leaseDuration: 30))
        }
    }

    func staleOwnerCannotClobberTheNewLease() async throws {
        try await run { h in
            let job = NewJob(kind: "test.slow", payload: .null)
            try await h.store.enqueue([job])
            _ = try await h.store.lease(owner: "slow", limit: 1, leaseDuration: 30)
            h.clock.advance(by: 31)
            let current = try #require(try await h.store.lease(owner: "fast", limit: 1, leaseDuration: 30).first)

            try await h.store.complete(jobID: job.id, owner: "slow")
            try await h.store.release(jobID: job.id, owner: "slow")
            await expectStoreError(.conflict) {
                try await h.store.fail(jobID: job.id, owner: "slow", error: "late", permanent: true)
            }
            #expect(try await h.store.job(id: job.id) == current)

            try await h.store.complete(jobID: job.id, owner: "fast")
            let done = try #require(try await h.store.job(id: job.id))
            #expect(done.state == .done)
            #expect(done.leaseOwner == nil)
            // Completing twice is harmless too.
            try await h.store.complete(jobID: job.id, owner: "fast")
            #expect(try await h.store.job(id: job.id) == done)
            await expectStoreError(.notFound) {
                try await h.store.fail(jobID: "job_missing", owner: "fast", error: "x", permanent: false)
            }
        }
    }

    func statsCountByKindAndState() async throws {
        try await run { h in
            #expect(try await h.store.stats() == JobStats(counts: [:], oldestReadyAge: 0))

            try await h.store.enqueue([
                NewJob(id: "job-x1", kind: "mail.send", payload: .null),
                NewJob(id: "job-x2", kind: "mail.send", payload: .null),
                NewJob(id: "job-x3", kind: "mail.send", payload: .null),
                NewJob(id: "job-x4", kind: "mail.send", payload: .null, runAt: h.clock.now().addingTimeInterval(3600)),
                NewJob(id: "job-y1", kind: "hook.post", payload: .null),
            ])
            #expect(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 60).map(\.id) == ["job-x1"])
            h.clock.advance(by: 30)

            let stats = try await h.store.stats()
            #expect(stats.counts == ["mail.send": ["ready": 3, "leased": 1], "hook.post": ["ready": 1]])
            #expect(stats.total(.ready) == 4)
            // The delayed job is not waiting yet; the others have waited 30 s.
            #expect(stats.oldestReadyAge == 30)

            try await h.store.complete(jobID: "job-x1", owner: "w")
            #expect(try await h.store.stats().counts["mail.send"] == ["ready": 3, "done": 1])
        }
    }

    func enqueueIsIdempotentPerJobID() async throws {
        try await run { h in
            let job = NewJob(id: "job-reply-in_1", kind: "reply.send", payload: .string("first"))
            try await h.store.enqueue([job])
            _ = try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30)
            var again = job
            again.payload = .string("second")
            try await h.store.enqueue([again])

            let stored = try #require(try await h.store.job(id: job.id))
            #expect(stored.payload == .string("first"))
            #expect(stored.state == .leased)
            #expect(try await h.store.stats().counts == ["reply.send": ["leased": 1]])
        }
    }
}

// MARK: - Sample data

// MARK: - Admin store (v7-admin): tokens, audit, pauses, item updates, dead-job discard

extension StoreContract {
    private func admin(_ h: StoreHarness) throws -> any AdminStore {
        try #require(h.store as? any AdminStore, "the backend must implement AdminStore")
    }

    func adminTokensAndAudit() async throws {
        try await run { h in
            let store = try admin(h)
            let now = h.clock.now()
            let token = AdminToken(id: "tok_1", name: "ops", role: .operator, organization: "acme", sha256: String(repeating: "a", count: 64), createdAt: now, expiresAt: now.addingTimeInterval(60))
            let audit = AuditEntry(id: "aud_1", actor: "cli", address: "local", action: "token.created", target: "tok_1", organization: "acme", detail: .object(["role": .string("operator")]), at: now)
            try await store.createToken(token, audit: audit)
            #expect(try await store.token(sha256: token.sha256) == token)
            #expect(try await store.token(sha256: String(repeating: "b", count: 64)) == nil)
            #expect(try await store.tokens() == [token])
            #expect(try await store.revokeToken(id: "tok_1", at: now.addingTimeInterval(5), audit: nil))
            #expect(try await store.revokeToken(id: "tok_1", at: now.addingTimeInterval(9), audit: nil))
            #expect(try await store.token(sha256: token.sha256)?.revokedAt == now.addingTimeInterval(5))
            #expect(try await store.revokeToken(id: "tok_missing", at: now, audit: nil) == false)
            await expectStoreError(.conflict) { try await store.createToken(token, audit: nil) }

            try await store.appendAudit(AuditEntry(id: "aud_2", actor: "tok_1", address: "127.0.0.1", action: "x", target: "y", organization: "globex", detail: .object([:]), at: now))
            try await store.appendAudit(AuditEntry(id: "aud_3", actor: "tok_1", address: "127.0.0.1", action: "z", target: "y", organization: nil, detail: .object([:]), at: now))
            #expect(try await store.audit(organization: nil, limit: 10, before: nil).map(\.id) == ["aud_3", "aud_2", "aud_1"])
            #expect(try await store.audit(organization: "acme", limit: 10, before: nil).map(\.id) == ["aud_1"])
            #expect(try await store.audit(organization: nil, limit: 1, before: "aud_3").map(\.id) == ["aud_2"])
            #expect(try await store.audit(organization: nil, limit: 10, before: nil).first?.detail == .object([:]))
        }
    }

    func adminPausesItemsAndDeadJobs() async throws {
        try await run { h in
            let store = try admin(h)
            try await store.setSourcePaused("form", paused: true, audit: nil)
            try await store.setSourcePaused("form", paused: true, audit: nil)
            #expect(try await store.pausedSources() == ["form"])
            try await store.setSourcePaused("form", paused: false, audit: nil)
            #expect(try await store.pausedSources().isEmpty)

            try await h.store.syncPipelines(Sample.pipelines)
            let item = try await Sample.makeItem("u1", in: h)
            let updated = try await store.updateItem(id: item.id, stage: "won", assignee: "zoe", actor: "tok_1", audit: nil)
            #expect(updated.stage == "won" && updated.assignee == "zoe")
            let unassigned = try await store.updateItem(id: item.id, stage: nil, assignee: "", actor: "tok_1", audit: nil)
            #expect(unassigned.assignee == nil && unassigned.stage == "won")
            #expect(try await h.store.activity(itemID: item.id).map(\.action) == ["item.created", "item.moved", "item.assigned", "item.assigned"])
            await expectStoreError(.invalid) { try await store.updateItem(id: item.id, stage: "open", assignee: nil, actor: "x", audit: nil) }
            await expectStoreError(.notFound) { try await store.updateItem(id: "it_missing", stage: "won", assignee: nil, actor: "x", audit: nil) }
            #expect(try await h.store.items(ItemFilter(text: "NO TITLE")).isEmpty)
            #expect(try await h.store.items(ItemFilter(text: item.title.uppercased())).map(\.id) == [item.id])

            try await h.store.enqueue([NewJob(id: "job_dead", kind: "test", payload: .object(["intake": .string(item.intakeID)]), maxAttempts: 1)])
            await expectStoreError(.conflict) { try await store.discardJob(id: "job_dead", audit: nil) }
            for job in try await h.store.lease(owner: "w", limit: 10, leaseDuration: 30) where job.id == "job_dead" {
                try await h.store.fail(jobID: job.id, owner: "w", error: "boom", permanent: true)
            }
            #expect(try await store.jobOrganization(id: "job_dead") == "acme")
            #expect(try await store.deadJobs(organization: "acme", limit: 10).map(\.id) == ["job_dead"])
            #expect(try await store.deadJobs(organization: "globex", limit: 10).isEmpty)
            #expect(try await store.jobCounts(organization: "acme")["test"]?["dead"] == 1)
            #expect(try await store.jobCounts(organization: "globex")["test"] == nil)
            try await store.retryJob(id: "job_dead", audit: nil)
            #expect(try await h.store.job(id: "job_dead")?.state == .ready)
            for job in try await h.store.lease(owner: "w", limit: 10, leaseDuration: 30) where job.id == "job_dead" {
                try await h.store.fail(jobID: job.id, owner: "w", error: "boom", permanent: true)
            }
            try await store.discardJob(id: "job_dead", audit: AuditEntry(actor: "tok_1", address: "127.0.0.1", action: "job.discarded", target: "job_dead", organization: "acme", detail: .object([:]), at: h.clock.now()))
            #expect(try await h.store.job(id: "job_dead") == nil)
            #expect(try await store.audit(organization: "acme", limit: 10, before: nil).map(\.action) == ["job.discarded"])
            await expectStoreError(.notFound) { try await store.discardJob(id: "job_dead", audit: nil) }
        }
    }
}

enum Sample {
    static let pipelines = [
        Pipeline(
            id: "sales", organization: "acme", name: "Sales",
            stages: [Stage(id: "new", name: "New"), Stage(id: "qualified", name: "Qualified"), Stage(id: "won", name: "Won")]),
        Pipeline(id: "support", organization: "acme", name: "Support", stages: [Stage(id: "open", name: "Open")]),
        Pipeline(id: "sales", organization: "globex", name: "Sales", stages: [Stage(id: "new", name: "New")]),
    ]

    static let route = Route(
        pipeline: "sales", stage: "new", priority: .high, assignee: "ana", tags: ["lead"], titleTemplate: "{{payload.name}}")

    static func decision(_ route: Route = route) -> Decision {
        Decision(outcome: .route, route: route, decidedBy: "default-route", trace: ["no rules; default route"])
    }

    static func intake(_ dedupeKey: String, organization: String = "acme", at date: Date) -> Intake {
        Intake(
            id: Identifier.make(prefix: "in", at: date), organization: organization, source: "contact-form",
            sourceKind: .webhook, receivedAt: date, dedupeKey: dedupeKey,
            rawBlob: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", rawSize: 5,
            contentType: "application/json", metadata: ["remote": "192.0.2.7", "signature": "standard-webhooks"])
    }

    /// One pending document per name, each with its own 64-hex blob key.
    static func documents(_ names: [String], of intake: Intake, at date: Date) -> [Document] {
        names.enumerated().map { index, name in
            Document(
                id: "doc-\(index)-\(intake.id)", intakeID: intake.id, filename: name, declaredType: "application/pdf",
                size: 10, blob: String(repeating: "\(index)", count: 64), origin: "file\(index)", createdAt: date)
        }
    }

    static func processJob(_ intake: Intake) -> NewJob {
        NewJob(kind: JobKind.processIntake, payload: .object(["intake": .string(intake.id)]))
    }

    static func record(_ dedupeKey: String, organization: String = "acme", in h: StoreHarness) async throws -> Intake {
        let intake = intake(dedupeKey, organization: organization, at: h.clock.now())
        let results = try await h.store.recordIntakes([NewIntake(intake: intake)], processJobs: [processJob(intake)])
        #expect(results == [.created(intake)])
        return intake
    }

    /// Records an intake and commits a routing decision for it, one second after the previous
    /// item so that item ids sort in creation order.
    static func makeItem(_ dedupeKey: String, organization: String = "acme", route: Route = route, in h: StoreHarness) async throws -> PipelineItem {
        h.clock.advance(by: 1)
        let intake = try await record(dedupeKey, organization: organization, in: h)
        let item = NewPipelineItem(
            id: Identifier.make(prefix: "it", at: h.clock.now()), route: route, title: "Item \(dedupeKey)",
            description: nil, fields: .object([:]))
        return try #require(try await h.store.commitDecision(
            intakeID: intake.id, decision: decision(route), item: item, status: .routed, followUps: [], actor: "worker"))
    }
}

/// Expects `body` to throw a ``StoreError`` of the given case.
func expectStoreError<R>(
    _ kind: StoreError.Kind, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> R
) async {
    let error = await #expect(throws: StoreError.self, sourceLocation: sourceLocation) { try await body() }
    if let error {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
    }
}
