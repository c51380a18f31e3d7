import Core
import Foundation
import Testing

/// Outbound webhook bookkeeping and `Retry-After` scheduling, for every backend.
extension StoreContract {
    func retryAfterSchedulesTheNextAttempt() async throws {
        try await run { h in
            let job = NewJob(kind: JobKind.deliverWebhook, payload: .null, maxAttempts: 3)
            try await h.store.enqueue([job])
            _ = try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30)
            // 7 s instead of the policy's 2 s backoff.
            let later = try await h.store.fail(jobID: job.id, owner: "w", error: "HTTP 429", permanent: false, notBefore: h.clock.now().addingTimeInterval(7))
            #expect(later == .retryAt(h.clock.now().addingTimeInterval(7)))
            h.clock.advance(by: 6)
            #expect(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30).isEmpty)
            h.clock.advance(by: 1)
            #expect(try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30).map(\.id) == [job.id])
            // Capped at the policy's longest delay (60 s here).
            let capped = try await h.store.fail(jobID: job.id, owner: "w", error: "HTTP 429", permanent: false, notBefore: h.clock.now().addingTimeInterval(86_400))
            #expect(capped == .retryAt(h.clock.now().addingTimeInterval(60)))
            h.clock.advance(by: 60)
            _ = try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30)
            // Out of attempts: dead, whatever the receiver asked for.
            let dead = try await h.store.fail(jobID: job.id, owner: "w", error: "HTTP 429", permanent: false, notBefore: h.clock.now().addingTimeInterval(5))
            #expect(dead == .dead)
        }
    }

    func webhookDeliveriesAndEndpointState() async throws {
        try await run { h in
            let store = try #require(h.store as? any WebhookDeliveryStore, "the backend must implement WebhookDeliveryStore")
            let job = NewJob(id: "job_whk_in1_crm", kind: JobKind.deliverWebhook, payload: .null)
            try await h.store.enqueue([job])
            _ = try await h.store.lease(owner: "w", limit: 1, leaseDuration: 30)
            func update(_ state: WebhookDeliveryState, attempted: Bool = true, status: Int?, error: String?) -> WebhookDeliveryUpdate {
                WebhookDeliveryUpdate(messageID: "msg_in1_crm", organization: "acme", endpoint: "crm", intakeID: "in1", jobID: job.id, state: state, attempted: attempted, status: status, error: error)
            }
            try await store.recordWebhookDelivery(update(.pending, status: 503, error: "HTTP 503"), completing: nil)
            try await store.recordWebhookDelivery(update(.pending, status: nil, error: "timed out"), completing: nil)
            var record = try #require(try await store.webhookDelivery(messageID: "msg_in1_crm"))
            #expect(record.state == .pending && record.attempts == 2 && record.lastStatus == 503 && record.lastError == "timed out")

            h.clock.advance(by: 3)
            try await store.recordWebhookDelivery(update(.delivered, status: 200, error: nil), completing: JobClaim(jobID: job.id, owner: "w"))
            record = try #require(try await store.webhookDelivery(messageID: "msg_in1_crm"))
            #expect(record.state == .delivered && record.attempts == 3 && record.lastStatus == 200 && record.lastError == nil)
            #expect(record.deliveredAt == h.clock.now())
            #expect(try await h.store.job(id: job.id)?.state == .done, "delivery and completion in one transaction")
            // Delivered is final: a late failure report changes nothing.
            try await store.recordWebhookDelivery(update(.dead, status: 500, error: "late"), completing: nil)
            #expect(try await store.webhookDelivery(messageID: "msg_in1_crm") == record)
            #expect(try await store.webhookDeliveries(intakeID: "in1") == [record])
            #expect(try await store.webhookDeliveries(intakeID: "other").isEmpty)

            // 410: disabled, first reason kept, listed, re-enabled by the store op.
            #expect(try await store.webhookEndpoint(organization: "acme", endpoint: "crm") == nil)
            try await store.disableWebhookEndpoint(organization: "acme", endpoint: "crm", url: "https://crm.example/in", reason: "HTTP 410")
            h.clock.advance(by: 1)
            try await store.disableWebhookEndpoint(organization: "acme", endpoint: "crm", url: "https://crm.example/in", reason: "second")
            let state = try #require(try await store.webhookEndpoint(organization: "acme", endpoint: "crm"))
            #expect(state.isDisabled && state.disabledReason == "HTTP 410" && state.url == "https://crm.example/in")
            #expect(state.disabledAt == h.clock.now().addingTimeInterval(-1))
            #expect(try await store.disabledWebhookEndpoints().map(\.endpoint) == ["crm"])
            #expect(try await store.webhookEndpoint(organization: "globex", endpoint: "crm") == nil)
            let reopened = try #require(try await h.reopen() as? any WebhookDeliveryStore)
            #expect(try await reopened.webhookEndpoint(organization: "acme", endpoint: "crm")?.isDisabled == true, "disabled state survives a restart")
            #expect(try await store.enableWebhookEndpoint(organization: "acme", endpoint: "crm"))
            #expect(try await store.enableWebhookEndpoint(organization: "acme", endpoint: "crm") == false)
            #expect(try await store.disabledWebhookEndpoints().isEmpty)
        }
    }

    func followUpJobsAreQueuedOncePerDecision() async throws {
        try await run { h in
            let intake = try await Sample.record("hook-forward", in: h)
            let forward = NewJob(id: "job_whk_\(intake.id)_crm", kind: JobKind.deliverWebhook, payload: .object(["intake": .string(intake.id)]))
            _ = try await h.store.commitDecision(intakeID: intake.id, decision: Sample.decision(), item: nil, status: .done, followUps: [forward], actor: "worker")
            _ = try await h.store.commitDecision(intakeID: intake.id, decision: Sample.decision(), item: nil, status: .done, followUps: [forward], actor: "worker")
            let stats = try await h.store.stats()
            #expect(stats.counts[JobKind.deliverWebhook]?["ready"] == 1)
        }
    }
}
