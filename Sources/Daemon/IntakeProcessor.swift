import Actions
import Core
import Foundation
import Inbound
import Logging
import Mail

/// `intake.process`: raw bytes → Facts → decision → pipeline item, committed in one transaction.
/// Running it twice for one intake changes nothing the second time (the store keys items by intake).
struct IntakeProcessor: JobHandling {
    let store: any Store
    let blobs: any BlobStore
    /// The router in force; a successful reload replaces it.
    let router: SharedValue<any IntakeRouter>
    let composer: ItemComposer
    /// The `mail` limits in force (they follow reloads).
    let mail: @Sendable () -> MailConfig
    let logger: Logger
    /// Document extraction (sandboxed children); nil: documents are routed on name and type only.
    var documentPipeline: DocumentPipeline? = nil
    /// Extends the job's lease while documents are extracted (children may run for minutes,
    /// longer than a lease): the queue and the lease duration in force.
    var leaseKeeper: (queue: any JobQueue, duration: @Sendable () -> TimeInterval)? = nil
    /// Outbound webhooks in force, for the decision's forwards (they follow reloads).
    var outbound: @Sendable () -> [String: OutboundEndpoint] = { [:] }
    /// Books the decision's meetings (`schedule`); nil: meeting requests are not served.
    var bookings: BookingService? = nil
    /// Attendees' iTIP replies (accept/decline emails) applied to their bookings before routing.
    var bookingReplies: BookingReplyIntake? = nil

    func run(_ job: Job, claim: JobClaim) async throws -> JobCompletion {
        guard let intakeID = job.payload["intake"]?.stringValue else {
            throw PermanentJobError("job payload has no intake id")
        }
        var logger = self.logger
        logger[metadataKey: "intake.id"] = "\(intakeID)"
        guard let input = try await store.processingInput(intakeID: intakeID) else {
            throw PermanentJobError("intake \(intakeID) does not exist")
        }
        let intake = input.intake
        guard intake.status == .received || intake.status == .processing else {
            logger.debug("Intake already processed", metadata: ["intake.status": "\(intake.status.rawValue)"])
            return .finished
        }
        // A failure is recorded by the queue: `fail` moves the intake to processing-with-reason or
        // failed in the same transaction as the job.
        let documents = input.documents
        // Text first: finished documents are skipped, so a retried job extracts only what is left.
        var outcomes: [String: DocumentOutcome] = [:]
        if let documentPipeline, !documents.isEmpty {
            let documentLogger = logger
            outcomes = try await keepingLease(claim) {
                try await documentPipeline.process(documents, intakeID: intakeID, logger: documentLogger)
            }
        }
        // From the blob's file when it has one: a large message is not loaded into memory.
        let parser = MessageParser(limits: MailLimits(mail()))
        let facts: Facts
        if let raw = input.inlineRaw {
            facts = try FactsBuilder.facts(for: intake, raw: raw, documents: documents, outcomes: outcomes, parser: parser)
        } else {
            facts = try await FactsBuilder.facts(for: intake, blobs: blobs, documents: documents, outcomes: outcomes, parser: parser)
        }
        try await bookingReplies?.process(intake, facts: facts)
        let decision = try await router.value.decide(facts)
        var item: NewPipelineItem?
        let status: IntakeStatus
        switch decision.outcome {
        case .route:
            guard let route = decision.route else { throw PermanentJobError("decision routes but names no route") }
            item = try composer.compose(route: route, facts: facts)
            status = .done
        case .review:
            status = .review
        case .ignore:
            status = .done
        }
        // Follow-up jobs commit with the decision; their ids derive from the intake, so a re-run queues nothing twice.
        let followUps = decision.followUps.replies.map { ReplyDelivery.job(intakeID: intakeID, reply: $0) }
            + (try [NewJob].webhookDeliveries(forwards: decision.followUps.forwards, intake: intake, facts: facts, decision: decision, item: item, endpoints: outbound(), at: Date()))
        let committed: PipelineItem?
        let meetings = decision.followUps.meetings
        if let bookings, !meetings.isEmpty {
            // Slots are chosen and recorded under the calendars' locks: two intakes of one
            // calendar cannot both take the same time.
            let calendars = Set(meetings.compactMap { bookings.calendarName(for: $0, organization: intake.organization) })
            committed = try await bookings.withCalendarLocks(calendars) {
                var plans: [BookingService.Plan] = []
                for (index, meeting) in meetings.enumerated() {
                    plans.append(try await bookings.plan(meeting, index: index, facts: facts, now: bookings.clock.now(), composer: composer))
                }
                for plan in plans {
                    logger.info("Meeting request planned", metadata: [
                        "booking.id": "\(plan.booking.id)", "booking.state": "\(plan.booking.state.rawValue)", "booking.calendar": "\(plan.booking.calendar)",
                    ])
                }
                let committed = try await bookings.store.commitDecision(
                    intakeID: intakeID, decision: decision, item: item, status: status, followUps: followUps + plans.compactMap(\.job),
                    bookings: plans.map(\.booking), actor: "worker", completing: claim)
                for plan in plans {
                    bookings.observe(plan.booking.state == .pending ? "planned" : plan.booking.state == .unavailable ? "unavailable" : "unservable")
                }
                return committed
            }
        } else {
            committed = try await store.commitDecision(intakeID: intakeID, decision: decision, item: item, status: status, followUps: followUps, actor: "worker", completing: claim)
        }
        CrashPoint.reached(CrashPoint.afterDecisionCommit)
        logger.info("Intake routed", metadata: [
            "intake.source": "\(intake.source)",
            "decision.by": "\(decision.decidedBy)",
            "decision.outcome": "\(decision.outcome.rawValue)",
            "item.id": "\(committed?.id ?? "-")",
        ])
        return .completedWithEffects
    }

    /// Runs `body` while heartbeating `claim` every third of the lease duration.
    private func keepingLease<T: Sendable>(_ claim: JobClaim, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let leaseKeeper else { return try await body() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while !Task.isCancelled {
                    let duration = leaseKeeper.duration()
                    try await Task.sleep(for: .milliseconds(Int64(max(0.5, duration / 3) * 1000)))
                    _ = try? await leaseKeeper.queue.heartbeat(jobID: claim.jobID, owner: claim.owner, leaseDuration: duration)
                }
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }
}
