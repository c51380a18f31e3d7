import Actions
import Core
import Foundation
import Logging

/// The exactly-once part of sending one automatic email, shared by replies (`reply.send`) and
/// the booking emails (invitations, updates, cancellations, reminders, offers). Every email has
/// a record in `replies` keyed by what it is for; ReplyDelivery's documentation explains the
/// states. `report` receives each outcome for the caller's metric.
struct OnceMailer {
    let store: any ReplyStore
    let sender: SMTPSender
    let metrics: DaemonMetrics
    let logger: Logger

    enum Resume {
        /// Settled by an earlier attempt (sent, suppressed, failed, unconfirmed): nothing to do.
        case done
        /// Not sent yet: the `deferred` record of an earlier attempt, or nil when there is none.
        case proceed(ReplyRecord?)
    }

    /// Steps 1 and 2: what an earlier attempt left. A `sending` record becomes `unconfirmed`.
    func resume(key: String, report: (String) -> Void) async throws -> Resume {
        let record = try await store.reply(id: key)
        switch record?.state {
        case .sent?, .suppressed?, .failed?, .unconfirmed?:
            report("duplicate")
            return .done
        case .sending?:
            _ = try await store.updateReply(id: key, from: [.sending], ReplyTransition(
                to: .unconfirmed, reason: "an earlier attempt ended without recording the server's answer; not sent again"))
            logger.warning("Email delivery unconfirmed; not sending again", metadata: ["email.key": "\(key)", "email.message_id": "\(record?.messageID ?? "")"])
            report("unconfirmed")
            return .done
        case .deferred?, nil:
            return .proceed(record)
        }
    }

    /// Records `fresh` (state `deferred`, or `suppressed` with its reason) for an email no
    /// earlier attempt recorded; returns the record to deliver, nil when it was suppressed.
    func record(_ fresh: ReplyRecord, report: (String) -> Void) async throws -> ReplyRecord? {
        guard try await store.insertReply(fresh) else {
            throw StoreError.conflict("email \(fresh.id) was recorded by another attempt")
        }
        if fresh.state == .suppressed {
            logger.info("Email suppressed", metadata: ["email.key": "\(fresh.id)", "email.reason": "\(fresh.reason ?? "")"])
            report("suppressed")
            return nil
        }
        return fresh
    }

    /// Steps 3 to 5: compose (a failure is permanent), mark `sending`, hand the message to the
    /// server, record its answer. Throws `PermanentJobError` for 5xx, the send error for what
    /// the queue should retry.
    func deliver(
        _ record: ReplyRecord, compose: () throws -> Data, recipients: [String], account: SMTPAccountConfig, secret: String?,
        report: (String) -> Void
    ) async throws {
        let key = record.id
        let bytes: Data
        do {
            bytes = try compose()
        } catch {
            _ = try await store.updateReply(id: key, from: [.deferred], ReplyTransition(to: .failed, reason: "\(error)"))
            report("failed")
            throw PermanentJobError("email \(key) cannot be composed: \(error)")
        }
        // Record the attempt before the message leaves: from here on a crash leaves `sending`.
        guard try await store.updateReply(id: key, from: [.deferred], ReplyTransition(to: .sending, countsAttempt: true)) != nil else {
            report("duplicate")
            return
        }
        let started = ContinuousClock.now
        do {
            let receipt = try await sender.send(bytes, envelope: SMTPEnvelope(from: account.fromAddress, recipients: recipients), account: account, secret: secret)
            metrics.smtpSend(account: account.id, duration: .now - started, newConnections: receipt.newConnections)
            CrashPoint.reached(CrashPoint.afterReplySend)
            // Also from `unconfirmed`: a slow send whose lease expired may have been judged
            // unconfirmed by another worker meanwhile; the server's 250 settles it.
            _ = try await store.updateReply(id: key, from: [.sending, .unconfirmed], ReplyTransition(to: .sent, serverReply: receipt.reply))
            logger.info("Email sent", metadata: ["email.key": "\(key)", "email.message_id": "\(record.messageID)", "email.server": "\(receipt.reply)"])
            report("sent")
        } catch let error as SMTPSendError {
            metrics.smtpSend(account: account.id, duration: .now - started, newConnections: 0)
            let reply: String? = switch error {
            case .rejected(_, let text), .deferred(_, let text): text
            case .connection: nil
            }
            if error.isPermanent {
                _ = try await store.updateReply(id: key, from: [.sending], ReplyTransition(to: .failed, reason: error.description, serverReply: reply))
                report("failed")
                throw PermanentJobError(error.description)
            }
            if error.certainlyNotDelivered {
                _ = try await store.updateReply(id: key, from: [.sending], ReplyTransition(to: .deferred, reason: error.description, serverReply: reply))
            }
            report("deferred")
            throw error
        }
    }
}
