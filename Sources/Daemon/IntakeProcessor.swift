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
    /// Outbound webhooks in force, for the decision's forwards (they follow reloads).
    var outbound: @Sendable () -> [String: OutboundEndpoint] = { [:] }

    func run(_ job: Job, claim: JobClaim) async throws -> JobCompletion {
        guard let intakeID = job.payload["intake"]?.stringValue else {
            throw PermanentJobError("job payload has no intake id")
        }
        var logger = self.logger
        logger[metadataKey: "intake.id"] = "\(intakeID)"
        guard let intake = try await store.intake(id: intakeID) else {
            throw PermanentJobError("intake \(intakeID) does not exist")
        }
        guard intake.status == .received || intake.status == .processing else {
            logger.debug("Intake already processed", metadata: ["intake.status": "\(intake.status.rawValue)"])
            return .finished
        }
        // A failure is recorded by the queue: `fail` moves the intake to processing-with-reason or
        // failed in the same transaction as the job.
        let raw = try await blobs.get(intake.rawBlob)
        let documents = try await store.documents(intakeID: intakeID)
        let facts = try FactsBuilder.facts(for: intake, raw: raw, documents: documents, parser: MessageParser(limits: MailLimits(mail())))
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
        let followUps = try [NewJob].webhookDeliveries(forwards: decision.followUps.forwards, intake: intake, facts: facts, decision: decision, item: item, endpoints: outbound(), at: Date())
        let committed = try await store.commitDecision(intakeID: intakeID, decision: decision, item: item, status: status, followUps: followUps, actor: "worker", completing: claim)
        CrashPoint.reached(CrashPoint.afterDecisionCommit)
        logger.info("Intake routed", metadata: [
            "intake.source": "\(intake.source)",
            "decision.by": "\(decision.decidedBy)",
            "decision.outcome": "\(decision.outcome.rawValue)",
            "item.id": "\(committed?.id ?? "-")",
        ])
        return .completedWithEffects
    }
}
