import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// A WebDAV `multistatus` body (RFC 4918 §13) as a CalDAV calendar-query REPORT answers it
/// (RFC 4791 §7.8): per resource its href, status, ETag and calendar data.
struct CalDAVMultistatus: Sendable, Equatable {
    struct Response: Sendable, Equatable {
        var href: String
        /// The HTTP status code of the response or of its propstat with calendar data (200 when
        /// none was given).
        var status: Int
        var etag: String?
        var calendarData: String?
    }

    var responses: [Response]

    /// Parses the XML; nil when it is not a DAV: multistatus document.
    static func parse(_ data: Data) -> CalDAVMultistatus? {
        let delegate = Reader()
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        guard parser.parse(), delegate.sawMultistatus else { return nil }
        return CalDAVMultistatus(responses: delegate.responses)
    }

    /// `HTTP/1.1 404 Not Found` → 404.
    static func statusCode(_ line: String) -> Int? {
        let parts = line.split(separator: " ")
        guard parts.count >= 2 else { return nil }
        return Int(parts[1])
    }

    private final class Reader: NSObject, XMLParserDelegate {
        private static let dav = "DAV:"
        private static let caldav = "urn:ietf:params:xml:ns:caldav"

        var responses: [Response] = []
        var sawMultistatus = false
        private var text = ""
        private var href: String?
        private var responseStatus: Int?
        private var propstatStatus: Int?
        private var propstatETag: String?
        private var propstatData: String?
        private var etag: String?
        private var calendarData: String?
        private var dataStatus: Int?
        private var inResponse = false
        private var inPropstat = false

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            text = ""
            switch (namespaceURI ?? "", name) {
            case (Self.dav, "multistatus"): sawMultistatus = true
            case (Self.dav, "response"):
                inResponse = true
                href = nil; responseStatus = nil; etag = nil; calendarData = nil; dataStatus = nil
            case (Self.dav, "propstat"):
                inPropstat = true
                propstatStatus = nil; propstatETag = nil; propstatData = nil
            default: break
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            text += string
        }

        func parser(_ parser: XMLParser, foundCDATA block: Data) {
            text += String(decoding: block, as: UTF8.self)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            switch (namespaceURI ?? "", name) {
            case (Self.dav, "href") where inResponse && !inPropstat:
                href = text.trimmingCharacters(in: .whitespacesAndNewlines)
            case (Self.dav, "status") where inPropstat:
                propstatStatus = CalDAVMultistatus.statusCode(text)
            case (Self.dav, "status") where inResponse:
                responseStatus = CalDAVMultistatus.statusCode(text)
            case (Self.dav, "getetag") where inPropstat:
                propstatETag = text.trimmingCharacters(in: .whitespacesAndNewlines)
            case (Self.caldav, "calendar-data") where inPropstat:
                propstatData = text
            case (Self.dav, "propstat"):
                inPropstat = false
                let status = propstatStatus ?? 200
                if (200..<300).contains(status) {
                    if let propstatETag { etag = propstatETag }
                    if let propstatData { calendarData = propstatData }
                } else if propstatData != nil || dataStatus == nil {
                    // calendar-data (or every property) refused: the resource counts as an error.
                    if propstatData != nil || status != 404 { dataStatus = status }
                }
            case (Self.dav, "response"):
                inResponse = false
                let status = responseStatus ?? (calendarData == nil ? dataStatus ?? 200 : 200)
                responses.append(Response(href: href ?? "", status: status, etag: etag, calendarData: calendarData))
            default: break
            }
            text = ""
        }
    }
}
