public import Core
import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore

/// RFC 9457 problem documents: every error answer on both listeners. `detail` is written for the
/// client; internal error text (SQL, paths, stack) never goes in it.
public enum Problem {
    public static func response(_ status: HTTPResponse.Status, detail: String, extraHeaders: HTTPFields = [:], extra: [String: JSONValue] = [:]) -> Response {
        var document: [String: JSONValue] = [
            "type": .string("about:blank"),
            "title": .string(status.reasonPhrase),
            "status": .number(Double(status.code)),
            "detail": .string(detail),
        ]
        for (key, value) in extra { document[key] = value }
        var headers = extraHeaders
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(document).encoded())))
    }

    /// A JSON (non-error) answer.
    public static func json(_ status: HTTPResponse.Status, _ value: JSONValue, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.encoded())))
    }
}
