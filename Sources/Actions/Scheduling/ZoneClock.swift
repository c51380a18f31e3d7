import Foundation

/// Wall-clock arithmetic in one IANA zone over a bounded span of time, without calling the time
/// zone database per conversion: the zone's UTC offsets and transitions inside the span are read
/// once, then local ↔ UTC conversions are table lookups.
///
/// Times are seconds since 1970 (UTC instants) and "wall seconds" (the local date and time as if
/// it were UTC: local midnight of day N is `N * 86_400`).
///
/// Local times that do not exist (the hour skipped when clocks go forward) map to the transition
/// instant, the first moment after the gap (02:30 on 2026-03-29 in Berlin is 03:00 CEST).
/// Local times that occur twice (the hour repeated when clocks go back) map to their first
/// occurrence (02:30 on 2026-10-25 in Berlin is 02:30 CEST, 00:30 UTC).
struct ZoneClock {
    /// Offset segments: `offsets[i]` applies from `starts[i]` (UTC) until `starts[i + 1]`.
    private var starts: [Double]
    private var offsets: [Double]

    init(zone: TimeZone, from: Double, to: Double) {
        // Eight days of margin either side: local days around the span's ends, and bookings of
        // the same ISO week (counted for `max_per_week`), may lie outside it.
        let lower = from - 8 * 86_400
        let upper = to + 8 * 86_400
        starts = [-Double.greatestFiniteMagnitude]
        offsets = [Double(zone.secondsFromGMT(for: Date(timeIntervalSince1970: lower)))]
        var cursor = Date(timeIntervalSince1970: lower)
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next.timeIntervalSince1970 < upper, next > cursor {
            let offset = Double(zone.secondsFromGMT(for: next))
            if offset != offsets[offsets.count - 1] {
                starts.append(next.timeIntervalSince1970)
                offsets.append(offset)
            }
            cursor = next
        }
    }

    /// The zone's offset at a UTC instant.
    func offset(at utc: Double) -> Double {
        var index = starts.count - 1
        while index > 0 && starts[index] > utc { index -= 1 }
        return offsets[index]
    }

    /// The wall seconds of a UTC instant.
    func wall(_ utc: Double) -> Double { utc + offset(at: utc) }

    /// The UTC instant of wall seconds (see the type's note on skipped and repeated times).
    func utc(wall: Double) -> Double {
        if starts.count == 1 { return wall - offsets[0] }
        var earliest = Double.greatestFiniteMagnitude
        for index in offsets.indices {
            let candidate = wall - offsets[index]
            let segmentEnd = index + 1 < starts.count ? starts[index + 1] : Double.greatestFiniteMagnitude
            if candidate >= starts[index] && candidate < segmentEnd && candidate < earliest { earliest = candidate }
        }
        if earliest != Double.greatestFiniteMagnitude { return earliest }
        // In a gap: the transition whose earlier offset puts the wall time after it.
        for index in 1..<starts.count where wall - offsets[index - 1] >= starts[index] && wall - offsets[index] < starts[index] {
            return starts[index]
        }
        return wall - offsets[0]
    }

    /// The local day number (days since 1970-01-01 in local time) of a UTC instant.
    func day(_ utc: Double) -> Int { LocalDate.floorDiv(wall(utc), 86_400) }
}

/// Proleptic Gregorian day numbers (days since 1970-01-01) ↔ year, month, day, ISO weekday.
enum LocalDate {
    static func floorDiv(_ value: Double, _ divisor: Double) -> Int { Int((value / divisor).rounded(.down)) }

    static func floorDiv(_ value: Int, _ divisor: Int) -> Int {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }

    /// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
    static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let monthIndex = (month + 9) % 12
        let dayOfYear = (153 * monthIndex + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// 1 = Monday ... 7 = Sunday (1970-01-01 was a Thursday).
    static func isoWeekday(_ day: Int) -> Int { (day + 3) - floorDiv(day + 3, 7) * 7 + 1 }

    /// Monday-to-Sunday weeks: days in the same ISO week share this number.
    static func week(_ day: Int) -> Int { floorDiv(day + 3, 7) }
}
