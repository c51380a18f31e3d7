import Foundation
import Logging
import Synchronization

/// One line per event on stderr: `level message key=value ...`, metadata keys dotted and sorted.
/// Under journald (`$JOURNAL_STREAM` set) each line starts with a `<N>` syslog priority, which
/// journald reads as the entry's level, and carries no timestamp (the journal has one).
struct LineLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    /// The process-wide level (changed by reloads) unless this logger was given its own.
    let sharedLevel: SharedValue<Logger.Level>
    private var ownLevel: Logger.Level?
    var logLevel: Logger.Level {
        get { ownLevel ?? sharedLevel.value }
        set { ownLevel = newValue }
    }
    let label: String
    let journald: Bool

    /// Serialises writes so lines from different threads never interleave.
    private static let output = Mutex<Void>(())

    init(label: String, level: SharedValue<Logger.Level>, journald: Bool = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil) {
        self.label = label
        self.sharedLevel = level
        self.journald = journald
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = ""
        if journald {
            line += "<\(Self.syslogPriority(event.level))>"
        } else {
            line += Self.timestamp() + " "
        }
        line += event.level.rawValue.uppercased()
        // Messages are constant text by convention; only line breaks are escaped to keep one line.
        line += " " + "\(event.message)".replacingOccurrences(of: "\n", with: "\\n")
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for key in merged.keys.sorted() {
            guard let value = merged[key] else { continue }
            line += " \(key)=\(Self.quoteIfNeeded(Self.flatten(value)))"
        }
        line += "\n"
        Self.output.withLock { _ in
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible): return convertible.description
        case .array(let values): return "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let dict): return "{" + dict.keys.sorted().map { "\($0):\(dict[$0].map(flatten) ?? "")" }.joined(separator: ",") + "}"
        }
    }

    /// Quotes values with spaces, quotes or control characters so a line stays one line.
    static func quoteIfNeeded(_ text: String) -> String {
        let needsQuotes = text.isEmpty || text.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline || ($0.asciiValue.map { $0 < 0x20 } ?? false) }
        guard needsQuotes else { return text }
        var escaped = "\""
        for char in text {
            switch char {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            default: escaped.append(char)
            }
        }
        return escaped + "\""
    }

    static func timestamp() -> String {
        // From Date, not clock_gettime: release builds resolve `timespec` through CDispatch, whose
        // members MemberImportVisibility hides (see SystemdNotifier.monotonicMicroseconds).
        let now = Date().timeIntervalSince1970
        let whole = now.rounded(.down)
        var seconds = time_t(whole)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let milliseconds = min(999, max(0, Int((now - whole) * 1000)))
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), milliseconds)
    }
}
