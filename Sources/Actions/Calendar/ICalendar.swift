import CLibical
public import Core
public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The iTIP method (RFC 5546) of a calendar object: what the recipient is asked to do with it.
public enum ICalendarMethod: String, Sendable, Hashable {
    /// An invitation, or an update of one (same UID, higher SEQUENCE).
    case request = "REQUEST"
    /// The organizer cancels the meeting (STATUS:CANCELLED).
    case cancel = "CANCEL"
    /// An attendee answers (accepts, declines...).
    case reply = "REPLY"
}

/// A calendar object libical would not build or read, with what is wrong.
public struct ICalendarError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// iCalendar (RFC 5545) objects for invitations and CalDAV resources, built, validated and
/// serialized by libical (never written by hand).
///
/// ```swift
/// let invitation = try ICalendar.serialize(event, method: .request)   // the text/calendar part
/// let cancel = try ICalendar.serialize(event, method: .cancel)        // STATUS:CANCELLED
/// let resource = try ICalendar.serialize(event, method: nil)          // a CalDAV PUT body
/// ```
public enum ICalendar {
    /// PRODID of everything the daemon writes.
    public static let productID = "-//astralisd//Scheduling//EN"

    /// Builds a VCALENDAR with one VEVENT for `event`:
    /// PRODID, VERSION:2.0, METHOD (none for a CalDAV resource), and UID, DTSTAMP,
    /// DTSTART/DTEND in UTC, SEQUENCE, SUMMARY, DESCRIPTION, LOCATION, URL, ORGANIZER (CN),
    /// ATTENDEE (CN, ROLE, PARTSTAT, RSVP) and STATUS (always CANCELLED for `.cancel`).
    ///
    /// The object passes libical's iTIP restriction check (`icalrestriction_check`) for its
    /// method before it is returned; a resource without METHOD is checked as a REQUEST (the
    /// check has no rules for a calendar without METHOD) and written without it. Lines are
    /// folded and end in CRLF as libical writes them.
    /// - Throws: `ICalendarError` naming what is wrong (a missing attendee, DTEND before DTSTART...).
    public static func serialize(_ event: CalendarEvent, method: ICalendarMethod?) throws -> String {
        guard method != .reply else { throw ICalendarError("ICalendar.serialize builds REQUEST, CANCEL or CalDAV resources, not REPLY") }
        guard !event.uid.isEmpty else { throw ICalendarError("UID is empty") }
        guard event.end > event.start else { throw ICalendarError("DTEND (\(event.end)) is not after DTSTART (\(event.start))") }
        for (label, text) in [("UID", event.uid), ("ORGANIZER", event.organizer.email)] + event.attendees.map({ ("ATTENDEE", $0.email) })
        where text.contains(where: { $0.isNewline || $0 == "\0" }) {
            throw ICalendarError("\(label) \(text.debugDescription) contains a line break")
        }
        return try Libical.run {
            guard let root = icalcomponent_new(ICAL_VCALENDAR_COMPONENT) else { throw ICalendarError("libical could not make a VCALENDAR") }
            let tree = ICalTree(root: root)
            let calendar = tree.root
            icalcomponent_add_property(calendar, icalproperty_new_prodid(productID))
            icalcomponent_add_property(calendar, icalproperty_new_version("2.0"))
            let checkedMethod = method ?? .request
            let methodProperty = icalproperty_new_method(checkedMethod == .cancel ? ICAL_METHOD_CANCEL : ICAL_METHOD_REQUEST)
            icalcomponent_add_property(calendar, methodProperty)

            guard let vevent = icalcomponent_new(ICAL_VEVENT_COMPONENT) else { throw ICalendarError("libical could not make a VEVENT") }
            icalcomponent_add_component(calendar, vevent)
            icalcomponent_add_property(vevent, icalproperty_new_uid(event.uid))
            icalcomponent_add_property(vevent, icalproperty_new_dtstamp(Libical.utcTime(event.stamp)))
            icalcomponent_add_property(vevent, icalproperty_new_dtstart(Libical.utcTime(event.start)))
            icalcomponent_add_property(vevent, icalproperty_new_dtend(Libical.utcTime(event.end)))
            icalcomponent_add_property(vevent, icalproperty_new_sequence(Int32(clamping: event.sequence)))
            icalcomponent_add_property(vevent, icalproperty_new_summary(event.summary))
            if let description = event.description, !description.isEmpty {
                icalcomponent_add_property(vevent, icalproperty_new_description(description))
            }
            if let location = event.location, !location.isEmpty {
                icalcomponent_add_property(vevent, icalproperty_new_location(location))
            }
            if let url = event.url, !url.isEmpty {
                icalcomponent_add_property(vevent, icalproperty_new_url(url))
            }
            let organizer = icalproperty_new_organizer("mailto:" + event.organizer.email)
            if let name = event.organizer.name, !name.isEmpty {
                icalproperty_add_parameter(organizer, icalparameter_new_cn(name))
            }
            icalcomponent_add_property(vevent, organizer)
            for attendee in event.attendees {
                icalcomponent_add_property(vevent, attendeeProperty(attendee))
            }
            let status: icalproperty_status
            switch method == .cancel ? .cancelled : event.status {
            case .confirmed: status = ICAL_STATUS_CONFIRMED
            case .tentative: status = ICAL_STATUS_TENTATIVE
            case .cancelled: status = ICAL_STATUS_CANCELLED
            }
            icalcomponent_add_property(vevent, icalproperty_new_status(status))

            if icalrestriction_check(calendar) == 0 {
                var problems = Libical.properties(of: calendar, kind: ICAL_XLICERROR_PROPERTY)
                    .compactMap { Libical.string(icalproperty_get_xlicerror($0)) }
                problems += Libical.properties(of: vevent, kind: ICAL_XLICERROR_PROPERTY)
                    .compactMap { Libical.string(icalproperty_get_xlicerror($0)) }
                let detail = problems.isEmpty ? "no detail from libical" : problems.joined(separator: "; ")
                throw ICalendarError("the \(checkedMethod.rawValue) calendar for UID \(event.uid) fails libical's restriction check: \(detail)")
            }
            if method == nil {
                icalcomponent_remove_property(calendar, methodProperty)
                icalproperty_free(methodProperty)
            }
            return Libical.serialize(calendar)
        }
    }

    private static func attendeeProperty(_ attendee: CalendarAttendee) -> OpaquePointer? {
        let property = icalproperty_new_attendee("mailto:" + attendee.email)
        if let name = attendee.name, !name.isEmpty {
            icalproperty_add_parameter(property, icalparameter_new_cn(name))
        }
        let role: icalparameter_role
        switch attendee.role {
        case .chair: role = ICAL_ROLE_CHAIR
        case .required: role = ICAL_ROLE_REQPARTICIPANT
        case .optional: role = ICAL_ROLE_OPTPARTICIPANT
        }
        icalproperty_add_parameter(property, icalparameter_new_role(role))
        let partstat: icalparameter_partstat
        switch attendee.status {
        case .needsAction: partstat = ICAL_PARTSTAT_NEEDSACTION
        case .accepted: partstat = ICAL_PARTSTAT_ACCEPTED
        case .declined: partstat = ICAL_PARTSTAT_DECLINED
        case .tentative: partstat = ICAL_PARTSTAT_TENTATIVE
        case .delegated: partstat = ICAL_PARTSTAT_DELEGATED
        }
        icalproperty_add_parameter(property, icalparameter_new_partstat(partstat))
        icalproperty_add_parameter(property, icalparameter_new_rsvp(attendee.rsvp ? ICAL_RSVP_TRUE : ICAL_RSVP_FALSE))
        return property
    }

    /// Reads the VEVENTs of iCalendar text with libical (one or several VCALENDARs): what a
    /// CalDAV GET returned, or an invitation read back. Times convert to instants (UTC or their
    /// TZID's zone; floating and DATE values as UTC).
    /// - Throws: `ICalendarError` when libical finds no VCALENDAR.
    public static func parse(_ text: String) throws -> [ICalendarEventFields] {
        try Libical.run {
            guard let tree = ICalTree.parse(text) else { throw ICalendarError("not iCalendar data: libical found no component") }
            let calendars = Libical.calendars(in: tree.root)
            guard !calendars.isEmpty else { throw ICalendarError("not iCalendar data: no VCALENDAR") }
            return calendars.flatMap { calendar in
                let method = icalcomponent_get_first_property(calendar, ICAL_METHOD_PROPERTY).flatMap { Libical.string(icalproperty_get_value_as_string($0)) }
                return Libical.components(of: calendar, kind: ICAL_VEVENT_COMPONENT).map { ICalendarEventFields(vevent: $0, method: method) }
            }
        }
    }
}

/// One VEVENT as libical read it (`ICalendar.parse`). Emails have `mailto:` removed and are
/// lowercased; parameter values have RFC 6868 escapes decoded.
public struct ICalendarEventFields: Sendable, Equatable {
    /// METHOD of the enclosing VCALENDAR (nil for a CalDAV resource).
    public var method: String?
    public var uid: String?
    public var sequence: Int
    public var stamp: Date?
    public var start: Date?
    public var end: Date?
    public var summary: String?
    public var description: String?
    public var location: String?
    public var url: String?
    public var status: String?
    public var comment: String?
    public var organizer: CalendarAttendee?
    public var attendees: [CalendarAttendee]

    init(vevent: OpaquePointer, method: String?) {
        self.method = method
        uid = Libical.string(icalcomponent_get_uid(vevent))
        sequence = Int(icalcomponent_get_sequence(vevent))
        stamp = Libical.date(icalcomponent_get_dtstamp(vevent), floating: .gmt)
        start = Libical.date(icalcomponent_get_dtstart(vevent), floating: .gmt)
        end = Libical.date(icalcomponent_get_dtend(vevent), floating: .gmt)
        summary = Libical.string(icalcomponent_get_summary(vevent))
        description = Libical.string(icalcomponent_get_description(vevent))
        location = Libical.string(icalcomponent_get_location(vevent))
        url = icalcomponent_get_first_property(vevent, ICAL_URL_PROPERTY).flatMap { Libical.string(icalproperty_get_url($0)) }
        status = icalcomponent_get_first_property(vevent, ICAL_STATUS_PROPERTY).flatMap { Libical.string(icalproperty_get_value_as_string($0)) }
        comment = Libical.string(icalcomponent_get_comment(vevent))
        organizer = icalcomponent_get_first_property(vevent, ICAL_ORGANIZER_PROPERTY).map { property in
            CalendarAttendee(email: Self.address(Libical.string(icalproperty_get_organizer(property))), name: Libical.parameter(property, "CN"), role: .chair, status: .accepted, rsvp: false)
        }
        attendees = Libical.properties(of: vevent, kind: ICAL_ATTENDEE_PROPERTY).map { property in
            CalendarAttendee(
                email: Self.address(Libical.string(icalproperty_get_attendee(property))),
                name: Libical.parameter(property, "CN"),
                role: Libical.parameter(property, "ROLE").flatMap { CalendarAttendee.Role(rawValue: $0.uppercased()) } ?? .required,
                status: Libical.parameter(property, "PARTSTAT").flatMap { CalendarAttendee.ParticipationStatus(rawValue: $0.uppercased()) } ?? .needsAction,
                rsvp: Libical.parameter(property, "RSVP")?.uppercased() == "TRUE"
            )
        }
    }

    /// `mailto:Ann@Example.org` → `ann@example.org`.
    static func address(_ value: String?) -> String {
        var text = (value ?? "").trimmingCharacters(in: .whitespaces)
        if text.lowercased().hasPrefix("mailto:") { text.removeFirst(7) }
        return text.lowercased()
    }
}
