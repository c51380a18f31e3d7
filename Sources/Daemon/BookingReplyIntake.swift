import Actions
import Core
import Foundation
import Logging
import Mail

/// Attendees' answers to invitations, arriving by email: the iTIP REPLY (RFC 5546) that Gmail,
/// Outlook and Apple Mail send when the requester presses Accept / Decline / Maybe.
///
/// For each email intake, before it is routed: the message's `text/calendar` parts and `.ics`
/// attachments whose METHOD is REPLY are parsed (`ITIPReply.parse`, libical); each finds its
/// booking by UID, in the intake's organization; the email's From must be the booking's attendee
/// (case-insensitive; otherwise the reply is ignored and logged: a forwarded invitation or a
/// spoof); `ITIPReply.apply` decides, and an updated attendee status is stored with
/// `BookingCommitting.recordAttendee` (compare-and-set on sequence and state; only the attendee
/// changes, so a job confirming or updating the booking at the same moment loses nothing) with an activity
/// entry `booking.reply` by `attendee`. The intake is routed as usual afterwards.
///
/// Bad input never throws: a calendar libical cannot read, a reply without a booking, a stale
/// SEQUENCE are logged and counted (`astralisd_booking_replies_total{outcome}`). Only the store
/// failing throws, so the processing job is retried (a second application is `unchanged`).
struct BookingReplyIntake: Sendable {
    /// What happened to one REPLY found in a message.
    enum Outcome: Equatable, Sendable {
        /// The attendee's status was stored.
        case updated(CalendarAttendee.ParticipationStatus)
        /// The booking already had that status.
        case unchanged
        /// The reply answers an older SEQUENCE (the booking was rescheduled since).
        case stale
        /// No booking with the UID in the intake's organization.
        case unknownBooking
        /// The email's From is not the booking's attendee.
        case senderMismatch
        /// The REPLY's ATTENDEE is not the booking's attendee.
        case unknownAttendee
        /// The booking is cancelled, failed or unavailable.
        case inactive
        /// The booking kept changing under us (compare-and-set lost three times).
        case conflict
        /// A calendar part that is not a usable REPLY (other than a REQUEST/CANCEL/... method).
        case malformed

        var label: String {
            switch self {
            case .updated: return "updated"
            case .unchanged: return "unchanged"
            case .stale: return "stale"
            case .unknownBooking: return "unknown_booking"
            case .senderMismatch: return "sender_mismatch"
            case .unknownAttendee: return "unknown_attendee"
            case .inactive: return "inactive"
            case .conflict: return "conflict"
            case .malformed: return "malformed"
            }
        }
    }

    /// Calendar replies are a few KiB; a larger message is not searched for one (its bytes would
    /// have to be loaded and parsed a second time).
    static let maxMessageBytes = 2 << 20

    let bookings: any BookingStore & BookingCommitting
    let blobs: any BlobStore
    /// The `mail` limits in force.
    let mail: @Sendable () -> MailConfig
    let clock: any WallClock
    /// Counts each outcome (the daemon's `bookingReply(outcome:)`).
    let count: @Sendable (String) -> Void
    let logger: Logger

    init(
        bookings: any BookingStore & BookingCommitting, blobs: any BlobStore, mail: @escaping @Sendable () -> MailConfig, clock: any WallClock = SystemWallClock(),
        count: @escaping @Sendable (String) -> Void = { _ in }, logger: Logger
    ) {
        self.bookings = bookings
        self.blobs = blobs
        self.mail = mail
        self.clock = clock
        self.count = count
        self.logger = logger
    }

    /// Applies every iTIP REPLY in the intake's message; one outcome per distinct reply.
    /// Throws only when the store does.
    @discardableResult
    func process(_ intake: Intake, facts: Facts) async throws -> [Outcome] {
        // Most mail has no calendar at all: the parsed message's parts say so without reading or
        // scanning the bytes again (a text/calendar part is never the text body, so it is listed).
        guard let message = facts.message, intake.rawSize <= Self.maxMessageBytes, Self.mayHoldCalendar(message) else { return [] }
        var logger = self.logger
        logger[metadataKey: "intake.id"] = "\(intake.id)"
        let raw: Data
        do {
            raw = try await blobs.get(intake.rawBlob)
        } catch {
            // The processing job read the same blob a moment ago; FactsBuilder reports a real loss.
            logger.warning("Booking replies: message bytes unreadable; skipped", metadata: ["error": "\(error)"])
            return []
        }
        let replies = Self.replies(in: raw, limits: MailLimits(mail()), logger: logger)
        var outcomes: [Outcome] = []
        for parsed in replies {
            let outcome: Outcome
            switch parsed {
            case .failure:
                outcome = .malformed
            case .success(let reply):
                outcome = try await apply(reply, organization: intake.organization, from: message.from, logger: logger)
            }
            count(outcome.label)
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// The REPLY calendars of a message: `text/calendar` parts and `.ics` / `application/ics`
    /// attachments, one per UID (the same answer usually comes as both). Calendars with another
    /// METHOD (an invitation sent to us) are not replies and are left out; unreadable ones are
    /// `.failure` (logged).
    static func replies(in raw: Data, limits: MailLimits, logger: Logger) -> [Result<ITIPReply, ITIPReply.ParseError>] {
        // Most mail has no calendar at all: skip the MIME walk unless the bytes mention one.
        guard Self.mentionsCalendar(raw) else { return [] }
        var seen: Set<String> = []
        var results: [Result<ITIPReply, ITIPReply.ParseError>] = []
        for part in MessageParser(limits: limits).outline(raw) {
            guard let content = part.content, Self.isCalendar(part) else { continue }
            if let method = part.parameters["method"], method.uppercased() != "REPLY" { continue }
            do {
                let reply = try ITIPReply.parse(content)
                guard seen.insert(reply.uid).inserted else { continue }
                results.append(.success(reply))
            } catch let error as ITIPReply.ParseError {
                if case .notReply = error { continue }
                logger.warning("Booking replies: unreadable calendar part ignored", metadata: [
                    "mime.part": "\(part.path)", "mime.type": "\(part.mediaType)", "itip.error": "\(error)",
                ])
                results.append(.failure(error))
            } catch {
                results.append(.failure(.notICalendar))
            }
        }
        return results
    }

    static func isCalendar(_ part: MIMEPartOutline) -> Bool {
        part.mediaType == "text/calendar" || part.mediaType == "application/ics"
            || (part.filename?.lowercased().hasSuffix(".ics") ?? false)
    }

    /// Whether the message has a part that may be a calendar: a `text/calendar` or
    /// `application/ics` part, or a file named `*.ics`.
    static func mayHoldCalendar(_ message: Message) -> Bool {
        message.attachments.contains { attachment in
            let type = attachment.declaredType.lowercased()
            return type == "text/calendar" || type == "application/ics" || attachment.filename.lowercased().hasSuffix(".ics")
        }
    }

    /// The same test on raw bytes, for callers without a parsed message: a byte search that
    /// ignores ASCII case, without decoding or copying the message.
    static func mentionsCalendar(_ raw: Data) -> Bool {
        let needles: [[UInt8]] = ["text/calendar", "application/ics", ".ics"].map { Array($0.utf8) }
        return raw.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
            let count = bytes.count
            for needle in needles where needle.count <= count {
                let first = needle[0]
                var index = 0
                while index <= count - needle.count {
                    if bytes[index] | 0x20 == first {
                        var matched = 1
                        while matched < needle.count, bytes[index + matched] | 0x20 == needle[matched] { matched += 1 }
                        if matched == needle.count { return true }
                    }
                    index += 1
                }
            }
            return false
        }
    }

    private func apply(_ reply: ITIPReply, organization: String, from: [MailAddress], logger: Logger) async throws -> Outcome {
        var logger = logger
        logger[metadataKey: "booking.uid"] = "\(reply.uid)"
        for _ in 0..<3 {
            // Another organization's booking is as unknown as a missing one.
            guard let booking = try await bookings.booking(uid: reply.uid), booking.organization == organization else {
                logger.info("Booking replies: no booking with this UID; ignored")
                return .unknownBooking
            }
            logger[metadataKey: "booking.id"] = "\(booking.id)"
            let attendee = booking.attendee.email.lowercased()
            guard from.contains(where: { $0.address.lowercased() == attendee }) else {
                logger.notice("Booking replies: the sender is not the booking's attendee; ignored", metadata: [
                    "mail.from": "\(from.map(\.address).joined(separator: ","))", "itip.attendee": "\(reply.attendeeEmail)",
                ])
                return .senderMismatch
            }
            switch reply.apply(to: booking, now: clock.now()) {
            case .updated(let changed):
                let activity = BookingActivity(
                    action: "booking.reply", detail: "\(reply.attendeeEmail) \(Self.verb(reply.status))", actor: "attendee")
                if try await bookings.recordAttendee(
                    bookingID: changed.id, attendee: changed.attendee, expectedSequence: booking.sequence, from: [booking.state], at: changed.updatedAt,
                    activity: activity)
                {
                    logger.info("Booking replies: attendee answer stored", metadata: ["itip.status": "\(reply.status.rawValue)"])
                    return .updated(reply.status)
                }
                continue  // changed meanwhile (confirmed, rescheduled): read it again
            case .unchanged:
                return .unchanged
            case .stale(let replied, let current):
                logger.info("Booking replies: the reply answers an older version of the booking; ignored", metadata: [
                    "itip.sequence": "\(replied)", "booking.sequence": "\(current)",
                ])
                return .stale
            case .unknownAttendee(let email):
                logger.notice("Booking replies: the reply's attendee is not the booking's; ignored", metadata: ["itip.attendee": "\(email)"])
                return .unknownAttendee
            case .inactive(let state):
                logger.info("Booking replies: the booking is no longer active; ignored", metadata: ["booking.state": "\(state.rawValue)"])
                return .inactive
            case .otherEvent:
                return .unknownBooking
            }
        }
        logger.warning("Booking replies: the booking kept changing; reply not stored")
        return .conflict
    }

    /// `accepted`, `declined`, `tentatively accepted`...: the activity entry's wording.
    static func verb(_ status: CalendarAttendee.ParticipationStatus) -> String {
        switch status {
        case .accepted: return "accepted"
        case .declined: return "declined"
        case .tentative: return "tentatively accepted"
        case .delegated: return "delegated"
        case .needsAction: return "has not answered yet"
        }
    }
}
