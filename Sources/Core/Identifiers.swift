public import Foundation

/// Time-ordered identifiers with a readable prefix (`in_`, `it_`, `job_`): 48 bits of
/// milliseconds and 80 random bits in Crockford base32, so ids sort by creation time.
public enum Identifier {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    public static func make(prefix: String, at date: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(prefix: prefix, at: date, using: &generator)
    }

    public static func make(prefix: String, at date: Date, using generator: inout some RandomNumberGenerator) -> String {
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        var chars: [Character] = []
        chars.reserveCapacity(26)
        for shift in stride(from: 45, through: 0, by: -5) {
            chars.append(alphabet[Int((millis >> UInt64(shift)) & 31)])
        }
        // 80 random bits from two draws (16 × 5 bits), not one draw per character: on Linux each
        // draw of the system generator is a getrandom(2) call.
        var high: UInt64 = generator.next()
        var low: UInt64 = generator.next()
        for index in 0..<16 {
            if index < 8 {
                chars.append(alphabet[Int(high & 31)])
                high >>= 5
            } else {
                chars.append(alphabet[Int(low & 31)])
                low >>= 5
            }
        }
        return prefix + "_" + String(chars)
    }
}
