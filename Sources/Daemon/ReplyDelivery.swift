import Actions
import Core
import Foundation
import Inbound
import Logging
import Mail

/// `reply.send`: one automatic reply, exactly once.
///
/// 1. A record for (intake, template) that is `sent`, `suppressed`, `failed` or `unconfirmed`
///    means the work is done: nothing happens.
/// 2. A `sending` record means an earlier attempt handed the message over (or was about to) and
///    never learned the answer (crash, lost lease, the connection dropped after the last byte).
///    It is marked `unconfirmed` and not sent again: a duplicate reply is worse than a missing
///    one, and the operator sees the record (with its Message-ID) to check the server's logs.
/// 3. Otherwise the templates are rendered, the loop / abuse policy applied (a refusal is
///    recorded as `suppressed` with its reason, not an error), the message composed and the
///    record written as `sending` with its Message-ID *before* the message goes to the server.
/// 4. 250 → `sent` with the server's reply. 5xx → `failed` and a `PermanentJobError` with the
///    server's reply (dead letter). 4xx, or a connection error before the last byte was handed
///    over → `deferred` and a normal error (the queue retries with backoff; the next attempt
///    sends the same Message-ID). A connection error after the last byte → stays `sending` and
///    the job retries, which by step 2 makes it `unconfirmed`.
struct ReplyDelivery: JobHandling {
    let store: any Store & ReplyStore
    let blobs: any BlobStore
    let sender: SMTPSender
    let renderer: ReplyRenderer
    /// The configuration in force (accounts, organizations, limits follow reloads).
    let config: @Sendable () -> DaemonConfig
    let secrets: @Sendable (SecretRef) throws -> String
    let clock: any WallClock
    let metrics: DaemonMetrics
    let logger: Logger

    static func job(intakeID: String, reply: ReplyRequest) -> NewJob {
        // Deterministic: a re-run of the decision's transaction can never queue a second job.
        NewJob(
            id: "reply:\(ReplyRecord.key(intakeID: intakeID, template: reply.template))", kind: JobKind.sendReply,
            payload: .object(["intake": .string(intakeID), "reply": (try? JSONValue.parse(JSONEncoder().encode(reply))) ?? .null]))
    }

    func run(_ job: Job, claim: JobClaim) async throws -> JobCompletion {
        guard let intakeID = job.payload["intake"]?.stringValue, let replyValue = job.payload["reply"],
              let request = try? JSONDecoder().decode(ReplyRequest.self, from: replyValue.encoded())
        else {
            throw PermanentJobError("reply job payload has no intake id or reply request")
        }
        var logger = self.logger
        logger[metadataKey: "intake.id"] = "\(intakeID)"
        logger[metadataKey: "reply.template"] = "\(request.template)"
        let key = ReplyRecord.key(intakeID: intakeID, template: request.template)
        let mailer = OnceMailer(store: store, sender: sender, metrics: metrics, logger: logger)
        let report: (String) -> Void = { metrics.reply(outcome: $0) }
        guard case .proceed(let earlier) = try await mailer.resume(key: key, report: report) else { return .finished }

        guard let intake = try await store.intake(id: intakeID) else { throw PermanentJobError("intake \(intakeID) does not exist") }
        let config = self.config()
        guard let accountID = config.organization(intake.organization)?.replyAccount, let account = config.smtpAccount(accountID) else {
            // Not an error of the message: the operator has not set up outgoing mail. Recorded
            // (visible per intake) rather than dead-lettered, so rules can ship before SMTP does.
            let now = clock.now()
            _ = try await store.insertReply(ReplyRecord(
                id: key, intakeID: intakeID, organization: intake.organization, template: request.template, account: "",
                recipient: "", messageID: "none-\(key)", state: .suppressed,
                reason: "organization \(intake.organization) has no reply_account (smtp_accounts); rule \(request.rule) asked for a reply",
                createdAt: now, updatedAt: now))
            logger.warning("Reply requested but no reply_account is configured", metadata: ["intake.organization": "\(intake.organization)"])
            metrics.reply(outcome: "suppressed")
            return .finished
        }
        let raw = try await blobs.get(intake.rawBlob)
        let documents = try await store.documents(intakeID: intakeID)
        let facts = try FactsBuilder.facts(for: intake, raw: raw, documents: documents, parser: MessageParser(limits: MailLimits(config.mail)))

        let now = clock.now()
        var record = earlier
        if earlier == nil {
            let policy = ReplyPolicy(ownAddresses: Self.ownAddresses(config), rateLimit: account.rateLimit)
            var verdict = policy.screen(facts.message)
            if case .reply(let to) = verdict {
                let recent = try await store.countReplies(recipient: to.address, since: now.addingTimeInterval(-account.rateLimit.period))
                verdict = policy.limit(recipient: to.address, recentReplies: recent) ?? verdict
            }
            let recipient = facts.message.flatMap(ReplyComposer.recipient(of:))?.address ?? ""
            var fresh = ReplyRecord(
                id: key, intakeID: intakeID, organization: intake.organization, template: request.template, account: account.id,
                recipient: recipient, messageID: ReplyComposer.makeMessageID(domain: account.messageIDDomain), state: .deferred,
                createdAt: now, updatedAt: now)
            if case .suppress(let reason) = verdict {
                fresh.state = .suppressed
                fresh.reason = reason
            }
            // Written as `deferred` (not yet handed over); `deliver` claims it.
            guard let recorded = try await mailer.record(fresh, report: report) else { return .finished }
            record = recorded
        }
        guard let current = record else { throw PermanentJobError("reply \(key) has no record") }
        guard let message = facts.message, let to = ReplyComposer.recipient(of: message) else {
            throw PermanentJobError("reply \(key) has no message to answer")
        }

        let rendered = try renderer.render(request, facts: facts)
        let draft = ReplyComposer.draft(
            replyingTo: message, from: MailAddress(name: account.fromName, address: account.fromAddress), to: to,
            subject: ReplyComposer.subject(rendered: rendered.subject, parent: message.subject),
            text: rendered.text, html: rendered.html, messageID: current.messageID, date: now)
        let secret = try account.password.map(secrets)
        try await mailer.deliver(current, compose: { try ReplyComposer.compose(draft) }, recipients: [to.address], account: account, secret: secret, report: report)
        return .finished
    }

    /// Addresses that are ours: every SMTP account's from address and every IMAP account name
    /// that is an address. Replies to them would talk to ourselves.
    static func ownAddresses(_ config: DaemonConfig) -> [String] {
        config.smtpAccounts.map(\.fromAddress) + config.sources.compactMap { $0.imap?.username }.filter { $0.contains("@") }
    }
}
