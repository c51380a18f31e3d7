import Actions
import Core
import Foundation
import Testing

@Suite("iTIP REPLY parsing")
struct ITIPReplyTests {
    static func reply(method: String = "REPLY", partstat: String = "ACCEPTED", attendees: [String] = ["MAILTO:Ann.Lee@Customer.Example"], uid: String? = "bk_01TEST@astralisd.example", sequence: Int = 1, comment: String? = nil) -> Data {
        var lines = ["BEGIN:VCALENDAR", "PRODID:-//Google Inc//Google Calendar 70.9054//EN", "VERSION:2.0", "METHOD:\(method)", "BEGIN:VEVENT"]
        if let uid { lines.append("UID:\(uid)") }
        lines += ["DTSTAMP:20260102T120000Z", "DTSTART:20260105T100000Z", "DTEND:20260105T103000Z", "SEQUENCE:\(sequence)", "ORGANIZER;CN=Host:mailto:host@acme.example"]
        for attendee in attendees { lines.append("ATTENDEE;CN=\"Lee, Ann\";PARTSTAT=\(partstat):\(attendee)") }
        if let comment { lines.append("COMMENT:\(comment)") }
        lines += ["END:VEVENT", "END:VCALENDAR", ""]
        return Data(lines.joined(separator: "\r\n").utf8)
    }

    static func booking(sequence: Int = 1, state: BookingState = .confirmed) -> Booking {
        Booking(
            id: "bk_01TEST", organization: "acme", calendar: "demo", host: "host", uid: "bk_01TEST@astralisd.example", sequence: sequence,
            start: Date(timeIntervalSince1970: 1_767_607_200), end: Date(timeIntervalSince1970: 1_767_609_000), state: state, summary: "Call",
            attendee: CalendarAttendee(email: "ann.lee@customer.example", name: "Ann Lee"), createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 0)
        )
    }

    @Test("accepted: uid, sequence, attendee (mailto stripped, lowercased), comment")
    func accepted() throws {
        let reply = try ITIPReply.parse(Self.reply(comment: "See you then\\, thanks"))
        #expect(reply == ITIPReply(uid: "bk_01TEST@astralisd.example", sequence: 1, attendeeEmail: "ann.lee@customer.example", attendeeName: "Lee, Ann", status: .accepted, comment: "See you then, thanks"))
    }

    @Test("declined and tentative")
    func declined() throws {
        let declined = try ITIPReply.parse(Self.reply(partstat: "DECLINED"))
        let tentative = try ITIPReply.parse(Self.reply(partstat: "tentative"))
        #expect(declined.status == .declined)
        #expect(tentative.status == .tentative)
    }

    @Test("not a REPLY, no UID, several attendees, bad PARTSTAT, garbage")
    func badInput() throws {
        #expect(throws: ITIPReply.ParseError.notReply("REQUEST")) { try ITIPReply.parse(Self.reply(method: "REQUEST")) }
        #expect(throws: ITIPReply.ParseError.missingUID) { try ITIPReply.parse(Self.reply(uid: nil)) }
        #expect(throws: ITIPReply.ParseError.attendeeCount(2)) {
            try ITIPReply.parse(Self.reply(attendees: ["mailto:a@x.example", "mailto:b@x.example"]))
        }
        #expect(throws: ITIPReply.ParseError.attendeeCount(0)) { try ITIPReply.parse(Self.reply(attendees: [])) }
        #expect(throws: ITIPReply.ParseError.invalidParticipationStatus("MAYBE")) { try ITIPReply.parse(Self.reply(partstat: "MAYBE")) }
        #expect(throws: ITIPReply.ParseError.notICalendar) { try ITIPReply.parse(Data("garbage that is not a calendar\r\n".utf8)) }
        #expect(throws: ITIPReply.ParseError.notICalendar) { try ITIPReply.parse(Data([0xFF, 0x00, 0x13, 0x37])) }
        let noMethod = String(decoding: Self.reply(), as: UTF8.self).replacingOccurrences(of: "METHOD:REPLY\r\n", with: "")
        #expect(throws: ITIPReply.ParseError.notReply(nil)) { try ITIPReply.parse(Data(noMethod.utf8)) }
        let error = ITIPReply.ParseError.attendeeCount(2)
        #expect(error.description.contains("exactly one ATTENDEE"))
    }

    @Test("apply: updates the attendee's status; stale, foreign, unchanged and inactive replies do not")
    func apply() throws {
        let now = Date(timeIntervalSince1970: 1_767_400_000)
        let accepted = try ITIPReply.parse(Self.reply(sequence: 1))
        guard case .updated(let changed) = accepted.apply(to: Self.booking(), now: now) else {
            Issue.record("expected an update")
            return
        }
        #expect(changed.attendee.status == .accepted)
        #expect(changed.updatedAt == now)
        #expect(accepted.apply(to: changed, now: now) == .unchanged)
        #expect(accepted.apply(to: Self.booking(sequence: 2), now: now) == .stale(replied: 1, current: 2))
        #expect(accepted.apply(to: Self.booking(state: .cancelled), now: now) == .inactive(.cancelled))
        let stranger = try ITIPReply.parse(Self.reply(attendees: ["mailto:mallory@evil.example"]))
        #expect(stranger.apply(to: Self.booking(), now: now) == .unknownAttendee("mallory@evil.example"))
        let other = try ITIPReply.parse(Self.reply(uid: "other@x"))
        #expect(other.apply(to: Self.booking(), now: now) == .otherEvent)
    }

    @Test("a REPLY built from our own invitation text round-trips")
    func roundTrip() throws {
        let invitation = try ICalendar.serialize(ICalendarTests.event(), method: .request)
        // What a client does: same UID/SEQUENCE, METHOD:REPLY, only the answering attendee.
        var lines = invitation.components(separatedBy: "\r\n")
        lines = lines.map { $0 == "METHOD:REQUEST" ? "METHOD:REPLY" : $0 }
        let unfolded = lines.joined(separator: "\r\n").replacingOccurrences(of: "\r\n ", with: "")
        var kept: [String] = []
        var seenAttendee = false
        for line in unfolded.components(separatedBy: "\r\n") {
            if line.hasPrefix("ATTENDEE") {
                if seenAttendee { continue }
                seenAttendee = true
                kept.append(line.replacingOccurrences(of: "PARTSTAT=NEEDS-ACTION", with: "PARTSTAT=DECLINED"))
            } else {
                kept.append(line)
            }
        }
        let reply = try ITIPReply.parse(Data(kept.joined(separator: "\r\n").utf8))
        #expect(reply.uid == "bk_01TEST@astralisd.example")
        #expect(reply.attendeeEmail == "ann.lee@customer.example")
        #expect(reply.attendeeName == "Lee, Ann \"AL\"")
        #expect(reply.status == .declined)
    }
}
