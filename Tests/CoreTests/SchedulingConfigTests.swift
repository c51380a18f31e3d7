import Core
import Foundation
import Testing

@Suite("Scheduling configuration")
struct SchedulingConfigTests {
    static func document(_ scheduling: String, accounts: String = "") -> String {
        """
        {
          "smtp_accounts": [\(accounts)],
          "organizations": [{
            "id": "demo",
            "pipelines": [{"id": "sales", "stages": [{"id": "new"}]}],
            "default_route": {"pipeline": "sales"},
            "sources": []
          }],
          "scheduling": \(scheduling)
        }
        """
    }

    static func parse(_ scheduling: String, accounts: String = "") throws -> DaemonConfig {
        try ConfigParser.parse(Data(document(scheduling, accounts: accounts).utf8), sourceName: "t")
    }

    static func issues(_ scheduling: String) -> [String] {
        do {
            _ = try ConfigParser.parse(Data(document(scheduling).utf8), sourceName: "t")
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    static let full = """
        {
          "reminder_offsets": ["P1D", "PT2H"],
          "calendars": {
            "demo": {
              "organization": "demo",
              "assignment": "round_robin",
              "slot_interval": "PT20M",
              "booking_window": "P14D",
              "durations": ["PT30M", "PT1H"],
              "organizer": {"email": "team@example.com", "name": "Demo Team"},
              "smtp_account": "mail",
              "reminder_offsets": ["PT30M"],
              "hosts": [
                {
                  "name": "ada", "email": "ada@example.com", "display_name": "Ada L.", "time_zone": "Europe/Berlin",
                  "working_hours": {"mon": ["09:00-12:00", "13:00-17:00"], "fri": ["09:00-13:00"]},
                  "overrides": [{"date": "2026-12-24", "hours": []}, {"date": "2026-12-27", "hours": ["10:00-12:00"]}],
                  "buffer_before": "PT10M", "buffer_after": "PT5M", "minimum_notice": "PT4H",
                  "max_per_day": 4, "max_per_week": 12,
                  "provider": {"type": "local"}
                },
                {
                  "name": "bob", "email": "bob@example.com", "time_zone": "America/New_York",
                  "working_hours": {"tue": ["08:00-24:00"]},
                  "provider": {"type": "caldav", "url": "https://dav.example.com/cal/bob/", "username": "bob", "password": {"env": "BOB_DAV"}}
                },
                {
                  "name": "cy", "email": "cy@example.com", "time_zone": "UTC",
                  "working_hours": {},
                  "provider": {"type": "google", "client_id": "cid", "client_secret": {"credential": "g-secret"}, "refresh_token": {"file": "/run/g-token"}, "meet_link": true, "send_updates": "all"}
                }
              ]
            }
          }
        }
        """

    @Test("the documented shape parses into SchedulingConfig")
    func fullShape() throws {
        let account = #"{"id": "mail", "host": "smtp.example.com", "from_address": "team@example.com"}"#
        let config = try Self.parse(Self.full, accounts: account)
        #expect(config.scheduling.reminderOffsets == [86_400, 7_200])
        let calendar = try #require(config.scheduling.calendars["demo"])
        #expect(calendar.name == "demo" && calendar.organization == "demo")
        #expect(calendar.assignment == .roundRobin)
        #expect(calendar.slotInterval == 1_200 && calendar.bookingWindow == 14 * 86_400)
        #expect(calendar.durations == [1_800, 3_600])
        #expect(calendar.organizer?.email == "team@example.com" && calendar.organizer?.name == "Demo Team")
        #expect(calendar.smtpAccount == "mail" && calendar.reminderOffsets == [1_800])
        let ada = calendar.hosts[0]
        #expect(ada.displayName == "Ada L." && ada.timeZone == "Europe/Berlin")
        #expect(ada.weeklyHours[1] == [LocalTimeRange(startMinute: 540, endMinute: 720), LocalTimeRange(startMinute: 780, endMinute: 1_020)])
        #expect(ada.weeklyHours[5] == [LocalTimeRange(startMinute: 540, endMinute: 780)])
        #expect(ada.weeklyHours[2] == nil)
        #expect(ada.overrides == [
            AvailabilityOverride(year: 2026, month: 12, day: 24, hours: []),
            AvailabilityOverride(year: 2026, month: 12, day: 27, hours: [LocalTimeRange(startMinute: 600, endMinute: 720)]),
        ])
        #expect(ada.bufferBefore == 600 && ada.bufferAfter == 300 && ada.minimumNotice == 14_400)
        #expect(ada.maxPerDay == 4 && ada.maxPerWeek == 12)
        #expect(ada.provider == .local)
        #expect(calendar.hosts[1].weeklyHours[2] == [LocalTimeRange(startMinute: 480, endMinute: 1_440)])
        #expect(calendar.hosts[1].provider == .caldav(CalDAVConfig(url: "https://dav.example.com/cal/bob/", username: "bob", password: .env("BOB_DAV"))))
        guard case .google(let google) = calendar.hosts[2].provider else {
            Issue.record("expected a google provider")
            return
        }
        #expect(google.clientSecret == .credential("g-secret") && google.refreshToken == .file("/run/g-token"))
        #expect(google.meetLink && google.sendUpdates == "all" && google.calendarID == "primary")
        #expect(google.tokenURL == "https://oauth2.googleapis.com/token")
    }

    @Test("defaults: no section, and a minimal calendar")
    func defaults() throws {
        let none = try ConfigParser.parse(Data(Self.document("{}").utf8), sourceName: "t")
        #expect(none.scheduling == SchedulingConfig())
        let minimal = try Self.parse(#"{"calendars": {"c1": {"organization": "demo", "hosts": [{"name": "a", "email": "a@example.com", "time_zone": "UTC", "working_hours": {"mon": ["09:00-10:00"]}}]}}}"#)
        let calendar = try #require(minimal.scheduling.calendars["c1"])
        #expect(calendar.assignment == .intersection && calendar.slotInterval == 900 && calendar.durations == [1_800])
        #expect(calendar.hosts[0].provider == .local && calendar.hosts[0].maxPerDay == nil)
    }

    @Test("every mistake is reported at its key path", arguments: [
        (#"{"calendars": {"c": {"organization": "nope", "hosts": []}}}"#, ["scheduling.calendars.c.organization: unknown organization \"nope\"", "scheduling.calendars.c.hosts: expected at least one host"]),
        (#"{"calendars": {"c": {"organization": "demo", "smtp_account": "x", "hosts": [{"name": "a", "email": "a@example.com", "time_zone": "Europe/Berln", "working_hours": {}}]}}}"#,
         ["scheduling.calendars.c.smtp_account: unknown SMTP account \"x\"", "scheduling.calendars.c.hosts[0].time_zone: expected an IANA time zone"]),
        (#"{"calendars": {"c": {"organization": "demo", "slot_interval": 15, "durations": ["30m"], "hosts": [{"name": "a", "email": "a@example.com", "time_zone": "UTC", "working_hours": {"mon": ["9-17"], "sat": ["10:00-12:00", "11:00-13:00"], "xyz": []}}]}}}"#,
         ["scheduling.calendars.c.slot_interval: expected an ISO 8601 duration", "scheduling.calendars.c.durations[0]: expected an ISO 8601 duration",
          "scheduling.calendars.c.hosts[0].working_hours.mon[0]: expected a time range such as \"09:00-12:30\"", "scheduling.calendars.c.hosts[0].working_hours.sat: time ranges overlap",
          "scheduling.calendars.c.hosts[0].working_hours.xyz: unknown key"]),
        (#"{"calendars": {"c": {"organization": "demo", "assignment": "random", "hosts": [{"name": "a", "email": "a@example.com", "time_zone": "UTC", "working_hours": {}, "overrides": [{"date": "2026-02-30", "hours": []}], "buffer_before": "P1M", "max_per_day": 0}]}}}"#,
         ["scheduling.calendars.c.assignment: expected intersection or round_robin", "scheduling.calendars.c.hosts[0].overrides[0].date: expected a date",
          "scheduling.calendars.c.hosts[0].buffer_before: expected an ISO 8601 duration", "scheduling.calendars.c.hosts[0].max_per_day: expected an integer in 1...1000"]),
        (#"{"calendars": {"c": {"organization": "demo", "hosts": [{"name": "a", "email": "a@example.com", "time_zone": "UTC", "working_hours": {}, "provider": {"type": "caldav", "url": "http://dav.example.com/", "username": "u"}}, {"name": "a", "email": "x", "time_zone": "UTC", "working_hours": {}, "provider": {"type": "outlook"}}]}}}"#,
         ["scheduling.calendars.c.hosts[0].provider.url: http:// sends credentials in clear text", "scheduling.calendars.c.hosts[0].provider.password: missing",
          "scheduling.calendars.c.hosts[1].name: duplicate host name \"a\"", "scheduling.calendars.c.hosts[1].email: expected an address", "scheduling.calendars.c.hosts[1].provider.type: expected local, caldav or google"]),
        (#"{"reminder_offsets": ["PT1S"], "calendars": {"Bad Name": {"organization": "demo", "hosts": [{"name": "a", "email": "a@example.com", "time_zone": "UTC", "working_hours": {}, "provider": {"type": "google", "client_id": "c", "client_secret": {"env": "S"}, "send_updates": "some"}}]}}}"#,
         ["scheduling.reminder_offsets[0]: expected a duration from PT1M", "scheduling.calendars.Bad Name: calendar names are 1-64 characters",
          "scheduling.calendars.Bad Name.hosts[0].provider.refresh_token: missing", "scheduling.calendars.Bad Name.hosts[0].provider.send_updates: expected all, externalOnly or none"]),
    ])
    func mistakes(scheduling: String, expected: [String]) {
        let issues = Self.issues(scheduling)
        for line in expected {
            #expect(issues.contains { $0.hasPrefix(line) || $0.contains(line) }, "missing `\(line)` in \(issues)")
        }
        #expect(issues.count == expected.count, "exactly these: \(issues)")
    }

    @Test("ISO 8601 durations", arguments: [
        ("PT15M", 900.0 as Double?), ("PT1H30M", 5_400), ("P1D", 86_400), ("P2W", 1_209_600), ("P1DT12H", 129_600), ("pt45s", 45), ("PT0S", 0),
        ("P1M", nil), ("PT", nil), ("P", nil), ("15", nil), ("PT1.5H", nil), ("PTM", nil), ("P1H", nil), ("-PT5M", nil),
    ])
    func durations(text: String, seconds: Double?) {
        #expect(ISODuration.parse(text) == seconds)
    }

    @Test func durationFormatting() {
        #expect(ISODuration.format(1_800) == "PT30M")
        #expect(ISODuration.format(5_400) == "PT1H30M")
        #expect(ISODuration.format(86_400) == "P1D")
        #expect(ISODuration.format(90_061) == "P1DT1H1M1S")
        #expect(ISODuration.format(0) == "PT0S")
    }
}
