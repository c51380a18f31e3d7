import Actions
import Core
import Foundation
import Logging
import Mail

/// The booking jobs (docs/scheduling.md, "The booking flow"):
///
/// - `booking.create`: the provider event (idempotent by UID), then `confirmed` with the
///   reminder jobs in one transaction, then the invitation (METHOD:REQUEST) exactly once.
/// - `booking.update`: for the booking's current SEQUENCE only (a newer change has its own
///   job): a reschedule updates the provider event, queues the new time's reminders and sends
///   the updated REQUEST; a cancellation deletes the provider event and sends METHOD:CANCEL to
///   an attendee who was invited.
/// - `booking.offer`: no slot fitted; the requester gets the alternatives.
/// - `reminder.send`: an email before the start, only for the SEQUENCE it was queued for and
///   only while the booking is confirmed and has not started.
///
/// Every step can run again after a crash: provider calls are idempotent by UID, state changes
/// are compare-and-set on SEQUENCE, job ids are deterministic and every email has a record
/// written before it is sent (OnceMailer).
struct BookingJobs: JobHandling {
    let service: BookingService
    let store: any Store & BookingStore & BookingCommitting & ReplyStore
    let sender: SMTPSender
    let secrets: @Sendable (SecretRef) throws -> String
    let metrics: DaemonMetrics
    let logger: Logger

    private var clock: any WallClock { service.clock }

    func run(_ job: Job, claim: JobClaim) async throws -> JobCompletion {
        guard let id = job.payload["booking"]?.stringValue else { throw PermanentJobError("\(job.kind) job payload names no booking") }
        guard let booking = try await store.booking(id: id) else { throw PermanentJobError("booking \(id) does not exist") }
        var logger = self.logger
        logger[metadataKey: "booking.id"] = "\(id)"
        logger[metadataKey: "booking.calendar"] = "\(booking.calendar)"
        let zone = job.payload["time_zone"]?.stringValue.flatMap(TimeZone.init(identifier:))
        let sequence = Self.int(job.payload["sequence"])
        switch job.kind {
        case JobKind.createBooking:
            try await create(booking, zone: zone, logger: logger)
        case JobKind.updateBooking:
            guard let sequence else { throw PermanentJobError("booking.update job payload has no sequence") }
            try await update(booking, sequence: sequence, logger: logger)
        case JobKind.offerBooking:
            let alternatives = (job.payload["alternatives"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap { try? Date($0, strategy: .iso8601) } }
            try await offer(booking, alternatives: alternatives, zone: zone, logger: logger)
        case JobKind.sendReminder:
            guard let sequence, let offset = Self.int(job.payload["offset"]) else { throw PermanentJobError("reminder.send job payload has no sequence or offset") }
            try await remind(booking, sequence: sequence, offset: TimeInterval(offset), zone: zone, logger: logger)
        default:
            throw PermanentJobError("job kind \(job.kind) is not a booking job")
        }
        return .finished
    }

    static func int(_ value: JSONValue?) -> Int? {
        guard case .number(let number)? = value, number.rounded() == number, abs(number) < 1e12 else { return nil }
        return Int(number)
    }

    // MARK: - booking.create

    private func create(_ booking: Booking, zone: TimeZone?, logger: Logger) async throws {
        var current = booking
        if current.state == .pending {
            let (calendar, provider) = try service.provider(for: current)
            let result = try await providerCall("create", provider: provider, booking: current, logger: logger) {
                try await provider.createEvent(Self.event(current, calendar: calendar, stamp: clock.now()))
            }
            guard let result else { return }
            var next = current
            next.state = .confirmed
            next.providerEventID = result.providerEventID ?? next.providerEventID
            next.meetingURL = result.meetingURL ?? next.meetingURL
            next.updatedAt = clock.now()
            let reminders = reminderJobs(next, calendar: calendar, zone: zone)
            let activity = BookingActivity(
                action: "booking.confirmed",
                detail: "\(next.summary) with \(next.attendee.email) at \(next.start.formatted(.iso8601)) on \(calendar.name)/\(next.host)\(result.alreadyExisted ? " (event already existed)" : "")",
                actor: "worker")
            if try await store.changeBooking(next, expectedSequence: current.sequence, from: [.pending], jobs: reminders, activity: activity) {
                metrics.booking(outcome: "confirmed")
                logger.info("Booking confirmed", metadata: ["booking.host": "\(next.host)", "booking.start": "\(next.start.formatted(.iso8601))"])
                current = next
            } else {
                guard let latest = try await store.booking(id: current.id) else { return }
                if latest.state == .cancelled {
                    // Cancelled while the event was being made: take it back off the calendar.
                    _ = try await providerCall("cancel", provider: provider, booking: latest, logger: logger) {
                        try await provider.cancelEvent(Self.event(latest, calendar: calendar, stamp: clock.now()), providerEventID: result.providerEventID)
                    }
                    return
                }
                current = latest
            }
        }
        guard current.state == .confirmed else {
            logger.debug("Booking is not confirmed; no invitation", metadata: ["booking.state": "\(current.state.rawValue)"])
            return
        }
        try await sendCalendarEmail(current, method: .request, zone: zone, logger: logger)
    }

    /// Runs a provider call, classifying its failure: transient → the job retries (at the
    /// server's Retry-After when given); `rejected` → the booking fails (nil is returned);
    /// `reconnectNeeded` → the job retries with backoff until an operator reconnects, then dead-letters.
    private func providerCall<T: Sendable>(
        _ operation: String, provider: any CalendarProvider, booking: Booking, logger: Logger, _ body: () async throws -> T
    ) async throws -> T? {
        do {
            return try await body()
        } catch let error as CalendarProviderError {
            switch error {
            case .transient(let text, let retryAfter):
                logger.warning("Calendar provider failed; will retry", metadata: ["calendar.operation": "\(operation)", "error": "\(text)"])
                if let retryAfter { throw RetryLaterJobError(text, notBefore: clock.now().addingTimeInterval(retryAfter)) }
                throw error
            case .reconnectNeeded:
                logger.error("Calendar account needs reconnecting", metadata: ["calendar.operation": "\(operation)", "error": "\(error)"])
                throw error
            case .rejected(let text):
                logger.error("Calendar provider refused the booking", metadata: ["calendar.operation": "\(operation)", "error": "\(text)"])
                guard operation == "create" else { return nil }
                var failed = booking
                failed.state = .failed
                failed.reason = "\(provider.kind) refused the event: \(text)"
                failed.updatedAt = clock.now()
                let activity = BookingActivity(action: "booking.failed", detail: failed.reason ?? "", actor: "worker")
                if try await store.changeBooking(failed, expectedSequence: booking.sequence, from: [.pending], jobs: [], activity: activity) {
                    metrics.booking(outcome: "failed")
                }
                return nil
            }
        }
    }

    /// One reminder job per configured offset whose time is still ahead.
    func reminderJobs(_ booking: Booking, calendar: CalendarConfig, zone: TimeZone?) -> [NewJob] {
        let offsets = calendar.reminderOffsets ?? service.config().scheduling.reminderOffsets
        let now = clock.now()
        return offsets.compactMap { offset in
            let due = booking.start.addingTimeInterval(-offset)
            guard due > now else { return nil }
            var fields: [String: JSONValue] = [
                "booking": .string(booking.id), "sequence": .number(Double(booking.sequence)), "offset": .number(offset.rounded()),
            ]
            if let zone { fields["time_zone"] = .string(zone.identifier) }
            return NewJob(id: booking.reminderJobID(sequence: booking.sequence, offset: offset), kind: JobKind.sendReminder, payload: .object(fields), runAt: due)
        }
    }

    // MARK: - booking.update

    private func update(_ booking: Booking, sequence: Int, logger: Logger) async throws {
        guard booking.sequence == sequence else {
            logger.debug("Booking changed again; this update is stale", metadata: ["booking.sequence": "\(booking.sequence)", "job.sequence": "\(sequence)"])
            metrics.booking(outcome: "stale")
            return
        }
        let (calendar, provider) = try service.provider(for: booking)
        switch booking.state {
        case .cancelled:
            _ = try await providerCall("cancel", provider: provider, booking: booking, logger: logger) {
                try await provider.cancelEvent(Self.event(booking, calendar: calendar, stamp: clock.now()), providerEventID: booking.providerEventID)
            }
            metrics.booking(outcome: "cancelled")
            // Only an attendee who was sent an invitation is told of the cancellation.
            let invited = try await store.replies(intakeID: booking.intakeID ?? "").contains {
                $0.template.hasPrefix(Self.template(booking, "request")) && [.sent, .sending, .unconfirmed].contains($0.state)
            }
            if invited { try await sendCalendarEmail(booking, method: .cancel, zone: nil, logger: logger) }
        case .confirmed:
            let result = try await providerCall("update", provider: provider, booking: booking, logger: logger) {
                try await provider.updateEvent(Self.event(booking, calendar: calendar, stamp: clock.now()), providerEventID: booking.providerEventID)
            }
            var next = booking
            next.providerEventID = result?.providerEventID ?? next.providerEventID
            next.meetingURL = result?.meetingURL ?? next.meetingURL
            guard try await store.changeBooking(next, expectedSequence: sequence, from: [.confirmed], jobs: reminderJobs(next, calendar: calendar, zone: nil), activity: nil) else {
                metrics.booking(outcome: "stale")
                return
            }
            metrics.booking(outcome: "rescheduled")
            try await sendCalendarEmail(next, method: .request, zone: nil, logger: logger)
        case .pending, .failed, .unavailable:
            logger.debug("Booking update has nothing to do", metadata: ["booking.state": "\(booking.state.rawValue)"])
        }
    }

    // MARK: - booking.offer and reminder.send

    private func offer(_ booking: Booking, alternatives: [Date], zone: TimeZone?, logger: Logger) async throws {
        guard booking.state == .unavailable, let calendar = service.calendar(named: booking.calendar) else { return }
        let primary = TimeZone(identifier: calendar.hosts.first?.timeZone ?? "") ?? .gmt
        let duration = booking.end.timeIntervalSince(booking.start)
        let lines = alternatives.map { "- " + BookingTimes.describe(start: $0, end: $0.addingTimeInterval(duration), zone: primary, also: zone) }
        let greeting = "Hello\(booking.attendee.name.map { " \($0)" } ?? ""),"
        let text = lines.isEmpty
            ? "\(greeting)\n\nthank you for asking for \"\(booking.summary)\". No time is free in the period you asked for; we will get back to you with a proposal.\n"
            : "\(greeting)\n\nthank you for asking for \"\(booking.summary)\". The time you asked for is not free. These times are:\n\n\(lines.joined(separator: "\n"))\n\nReply to this email with the one that suits you.\n"
        let html = "<p>" + Self.escape(text).replacingOccurrences(of: "\n", with: "<br>") + "</p>"
        try await sendPlainEmail(
            booking, kind: "offer", subject: "\(booking.summary): the requested time is not available", text: text, html: html, logger: logger)
        metrics.booking(outcome: "offered")
    }

    private func remind(_ booking: Booking, sequence: Int, offset: TimeInterval, zone: TimeZone?, logger: Logger) async throws {
        guard booking.state == .confirmed, booking.sequence == sequence else {
            logger.debug("Reminder of a moved or cancelled booking; not sent", metadata: ["booking.state": "\(booking.state.rawValue)"])
            metrics.reminder(outcome: "stale")
            return
        }
        guard clock.now() < booking.start else {
            logger.info("Reminder is due after the meeting started; not sent")
            metrics.reminder(outcome: "late")
            return
        }
        let calendar = service.calendar(named: booking.calendar)
        let primary = TimeZone(identifier: calendar?.hosts.first?.timeZone ?? "") ?? .gmt
        let when = BookingTimes.describe(start: booking.start, end: booking.end, zone: primary, also: zone)
        let lead = ISODuration.format(offset)
        var text = "Hello\(booking.attendee.name.map { " \($0)" } ?? ""),\n\nthis is a reminder of \"\(booking.summary)\": \(when).\n"
        if let url = booking.meetingURL { text += "\nJoin: \(url)\n" }
        if let location = booking.location { text += "\nWhere: \(location)\n" }
        let html = "<p>" + Self.escape(text).replacingOccurrences(of: "\n", with: "<br>") + "</p>"
        try await sendPlainEmail(
            booking, kind: "reminder.\(sequence).\(Int(offset))", subject: "Reminder: \(booking.summary) (\(when))", text: text, html: html, logger: logger)
        metrics.reminder(outcome: "sent")
        logger.info("Reminder handled", metadata: ["reminder.offset": "\(lead)"])
    }

    // MARK: - Emails

    /// `booking.<id>.<kind>`: the email's record key part (under the booking's intake).
    static func template(_ booking: Booking, _ kind: String) -> String { "booking.\(booking.id).\(kind)" }

    /// The account booking emails go out with: the calendar's, else the organization's reply account.
    private func account(for booking: Booking) -> SMTPAccountConfig? {
        let config = service.config()
        let id = service.calendar(named: booking.calendar)?.smtpAccount ?? config.organization(booking.organization)?.replyAccount
        return id.flatMap(config.smtpAccount)
    }

    /// The invitation (REQUEST at the booking's SEQUENCE) or the cancellation.
    private func sendCalendarEmail(_ booking: Booking, method: InvitationMethod, zone: TimeZone?, logger: Logger) async throws {
        guard let calendar = service.calendar(named: booking.calendar) else { throw PermanentJobError("calendar \(booking.calendar) is no longer configured") }
        let kind = method == .cancel ? "cancel.\(booking.sequence)" : "request.\(booking.sequence)"
        // Google sends its own invitations when it is told to: a second one from us would be a duplicate.
        var suppressed: String?
        if let host = calendar.hosts.first(where: { $0.name == booking.host }), case .google(let google) = host.provider, google.sendUpdates != "none" {
            suppressed = "Google Calendar sends the invitation (send_updates \(google.sendUpdates))"
        }
        let primary = TimeZone(identifier: calendar.hosts.first?.timeZone ?? "") ?? .gmt
        let when = BookingTimes.describe(start: booking.start, end: booking.end, zone: primary, also: zone)
        let event = Self.event(booking, calendar: calendar, stamp: clock.now())
        let icsMethod: ICalendarMethod = method == .cancel ? .cancel : .request
        let greeting = "Hello\(booking.attendee.name.map { " \($0)" } ?? ""),"
        let subject: String
        var text: String
        switch method {
        case .cancel:
            subject = "Cancelled: \(booking.summary) (\(when))"
            text = "\(greeting)\n\n\"\(booking.summary)\" on \(when) is cancelled.\n"
        default:
            subject = booking.sequence == 0 ? "Invitation: \(booking.summary) (\(when))" : "Updated invitation: \(booking.summary) (\(when))"
            text = "\(greeting)\n\n\"\(booking.summary)\" is \(booking.sequence == 0 ? "booked" : "moved") to \(when).\n"
            if let url = booking.meetingURL { text += "\nJoin: \(url)\n" }
            if let location = booking.location { text += "\nWhere: \(location)\n" }
            let others = event.attendees.filter { $0.email != booking.attendee.email }.map { $0.name ?? $0.email }
            if !others.isEmpty { text += "\nWith: \(others.joined(separator: ", "))\n" }
            text += "\nThe invitation is attached: accept or decline it in your calendar.\n"
        }
        let html = "<p>" + Self.escape(text).replacingOccurrences(of: "\n", with: "<br>") + "</p>"
        let threading = try await store.reply(id: ReplyRecord.key(intakeID: booking.intakeID ?? "", template: Self.template(booking, "request.0")))
        try await send(booking, kind: kind, suppressed: suppressed, logger: logger) { account, messageID in
            let ics = try ICalendar.serialize(event, method: icsMethod)
            return try InvitationComposer.compose(InvitationDraft(
                from: MailAddress(name: account.fromName, address: account.fromAddress),
                to: [MailAddress(name: booking.attendee.name, address: booking.attendee.email)], subject: subject, text: text, html: html,
                calendar: ics, method: method, filename: method == .cancel ? "cancel.ics" : "invite.ics", messageID: messageID, date: clock.now(),
                inReplyTo: booking.sequence > 0 ? threading?.messageID : nil, references: booking.sequence > 0 ? [threading?.messageID].compactMap { $0 } : []))
        }
        metrics.bookingEmail(kind: method == .cancel ? "cancel" : (booking.sequence == 0 ? "invitation" : "update"))
    }

    private func sendPlainEmail(_ booking: Booking, kind: String, subject: String, text: String, html: String, logger: Logger) async throws {
        try await send(booking, kind: kind, suppressed: nil, logger: logger) { account, messageID in
            try ReplyComposer.compose(ReplyDraft(
                from: MailAddress(name: account.fromName, address: account.fromAddress),
                to: MailAddress(name: booking.attendee.name, address: booking.attendee.email), subject: subject, text: text, html: html,
                messageID: messageID, date: clock.now()))
        }
        metrics.bookingEmail(kind: kind.hasPrefix("reminder") ? "reminder" : kind)
    }

    /// One booking email, exactly once, under the record `<intake>:booking.<id>.<kind>`.
    private func send(
        _ booking: Booking, kind: String, suppressed: String?, logger: Logger,
        compose: @escaping (SMTPAccountConfig, String) throws -> Data
    ) async throws {
        guard let intakeID = booking.intakeID else { throw PermanentJobError("booking \(booking.id) has no intake to record its email under") }
        let template = Self.template(booking, kind)
        let key = ReplyRecord.key(intakeID: intakeID, template: template)
        let mailer = OnceMailer(store: store, sender: sender, metrics: metrics, logger: logger)
        let report: (String) -> Void = { [metrics] in metrics.bookingEmailOutcome($0) }
        guard case .proceed(let earlier) = try await mailer.resume(key: key, report: report) else { return }
        let account = self.account(for: booking)
        var record = earlier
        if earlier == nil {
            let now = clock.now()
            var fresh = ReplyRecord(
                id: key, intakeID: intakeID, organization: booking.organization, template: template, account: account?.id ?? "",
                recipient: booking.attendee.email, messageID: account.map { InvitationComposer.makeMessageID(domain: $0.messageIDDomain) } ?? "none-\(key)",
                state: .deferred, createdAt: now, updatedAt: now)
            if let reason = suppressed ?? (account == nil
                ? "no smtp account for calendar \(booking.calendar) (its smtp_account or organization \(booking.organization)'s reply_account)" : nil) {
                fresh.state = .suppressed
                fresh.reason = reason
            }
            guard let recorded = try await mailer.record(fresh, report: report) else { return }
            record = recorded
        }
        guard let current = record, let account else { throw PermanentJobError("email \(key) has no smtp account") }
        let secret = try account.password.map(secrets)
        try await mailer.deliver(
            current, compose: { try compose(account, current.messageID) }, recipients: [booking.attendee.email], account: account, secret: secret,
            report: report)
    }

    /// The booking as an event: the organizer (configured, else the booked host) chairs; the hosts
    /// the booking involves (all for intersection, the booked one for round-robin) have accepted.
    static func event(_ booking: Booking, calendar: CalendarConfig, stamp: Date) -> CalendarEvent {
        let hosts = calendar.assignment == .intersection ? calendar.hosts : calendar.hosts.filter { $0.name == booking.host }
        let booked = hosts.first ?? calendar.hosts.first
        let organizer = calendar.organizer
            ?? CalendarAttendee(email: booked?.email ?? "", name: booked?.displayName, role: .chair, status: .accepted, rsvp: false)
        let attendees = hosts.filter { $0.email.lowercased() != organizer.email.lowercased() }.map {
            CalendarAttendee(email: $0.email, name: $0.displayName, role: .required, status: .accepted, rsvp: false)
        }
        return booking.event(organizer: organizer, hosts: attendees, stamp: stamp)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
