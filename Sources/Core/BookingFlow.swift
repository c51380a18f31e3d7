public import Foundation

// The booking flow's storage contract: bookings committed with the decision that asked for them,
// and compare-and-set changes (reschedule, cancel, confirmation) committed with the jobs that
// carry them out. docs/scheduling.md describes the flow.

extension JobKind {
    /// No slot fitted: email the requester the alternatives. Payload `{"booking": ID, "alternatives": [ISO 8601 start...]}`.
    public static let offerBooking = "booking.offer"
}

/// An activity entry written with a booking change (on the booking's item, else its intake).
public struct BookingActivity: Sendable, Equatable {
    /// `booking.confirmed`, `booking.rescheduled`, `booking.cancelled`, `booking.reply`...
    public var action: String
    public var detail: String
    /// `worker`, `admin:<token name>`, `attendee`.
    public var actor: String

    public init(action: String, detail: String, actor: String) {
        self.action = action
        self.detail = detail
        self.actor = actor
    }
}

/// Store operations of the booking flow, each one transaction.
public protocol BookingCommitting: Sendable {
    /// `Store.commitDecision`, also recording `bookings` in the same transaction (their `itemID`
    /// set to the item it creates). A booking whose id or uid exists is left alone.
    func commitDecision(
        intakeID: String, decision: Decision, item: NewPipelineItem?, status: IntakeStatus, followUps: [NewJob], bookings: [Booking],
        actor: String, completing: JobClaim?
    ) async throws -> PipelineItem?

    /// Replaces the stored booking with `booking` when the stored one still has `expectedSequence`
    /// and a state in `from`; enqueues `jobs` and records `activity` in the same transaction.
    /// The attendee column is left as stored: it is only changed by `recordAttendee`, so an
    /// attendee's reply landing while a job confirms or updates the booking is never lost.
    /// False (nothing written) when the booking changed meanwhile; throws `notFound` when it does not exist.
    func changeBooking(_ booking: Booking, expectedSequence: Int, from: Set<BookingState>, jobs: [NewJob], activity: BookingActivity?) async throws -> Bool

    /// Stores the attendee's answer (their PARTSTAT) when the booking still has
    /// `expectedSequence` and a state in `from`, with `activity`; only the attendee and
    /// `updated_at` change. False when the booking changed meanwhile.
    func recordAttendee(
        bookingID: String, attendee: CalendarAttendee, expectedSequence: Int, from: Set<BookingState>, at: Date, activity: BookingActivity?
    ) async throws -> Bool
}

extension Booking {
    /// Deterministic job ids: a re-run of the transaction that queued them queues nothing twice.
    public var createJobID: String { "booking:\(id):create" }
    public var offerJobID: String { "booking:\(id):offer" }
    public func updateJobID(sequence: Int) -> String { "booking:\(id):update:\(sequence)" }
    public func reminderJobID(sequence: Int, offset: TimeInterval) -> String { "reminder:\(id):\(sequence):\(Int(offset))" }

    /// The calendar event this booking is, as providers and invitations see it.
    public func event(organizer: CalendarAttendee, hosts: [CalendarAttendee], stamp: Date) -> CalendarEvent {
        CalendarEvent(
            uid: uid, sequence: sequence, stamp: stamp, start: start, end: end, summary: summary, description: description,
            location: location, url: meetingURL, organizer: organizer, attendees: hosts + [attendee],
            status: state == .cancelled ? .cancelled : .confirmed)
    }
}
