import CGMime
public import Foundation

/// One entity of a message's MIME tree as written: its media type with every parameter, its
/// disposition and, for leaves, the decoded bytes. For checking the layout of messages the
/// daemon builds (invitations) and for finding a part by type and parameters (an iTIP REPLY's
/// `text/calendar; method=REPLY`), which `MessageParser`'s routing view does not keep.
public struct MIMEPartOutline: Sendable, Equatable {
    /// `""` for the message's body, `1`, `1.2`... below it (1-based, like `MessageAttachment.partPath`).
    public var path: String
    /// Lower case `type/subtype`.
    public var mediaType: String
    /// Content-Type parameters, names lower case, values as written (decoded).
    public var parameters: [String: String]
    /// `inline`, `attachment` or nil, lower case.
    public var disposition: String?
    public var filename: String?
    /// The declared Content-Transfer-Encoding: `base64`, `quoted-printable`, `7bit`... (nil for
    /// multiparts and for parts that declare none, which means 7bit).
    public var transferEncoding: String?
    /// The decoded bytes of a leaf; nil for multiparts.
    public var content: Data?

    public init(
        path: String, mediaType: String, parameters: [String: String] = [:], disposition: String? = nil, filename: String? = nil,
        transferEncoding: String? = nil, content: Data? = nil
    ) {
        self.path = path
        self.mediaType = mediaType
        self.parameters = parameters
        self.disposition = disposition
        self.filename = filename
        self.transferEncoding = transferEncoding
        self.content = content
    }
}

extension MessageParser {
    /// The message's MIME entities in tree order (a multipart before its children), within
    /// `limits.maxParts` / `limits.maxDepth`; embedded messages are not entered. Empty when the
    /// bytes hold no message or are over `limits.maxMessageBytes`.
    public func outline(_ raw: Data) -> [MIMEPartOutline] {
        guard raw.count <= limits.maxMessageBytes else { return [] }
        GMimeRuntime.ensureInitialized()
        let parse = GMimeParse(raw: raw, fallbackCharsets: Self.fallbackCharsets)
        guard let message = parse.message, let body = g_mime_message_get_mime_part(message) else { return [] }
        var entries: [MIMEPartOutline] = []
        Self.outline(body, path: "", depth: 0, limits: limits, into: &entries)
        return entries
    }

    private static func outline(_ object: UnsafeMutablePointer<GMimeObject>, path: String, depth: Int, limits: MailLimits, into entries: inout [MIMEPartOutline]) {
        guard entries.count < limits.maxParts, depth <= limits.maxDepth else { return }
        let type = g_mime_object_get_content_type(object)
        var entry = MIMEPartOutline(
            path: path, mediaType: CString.owned(g_mime_content_type_get_mime_type(type))?.lowercased() ?? "application/octet-stream")
        if let list = g_mime_content_type_get_parameters(type) {
            for index in 0..<g_mime_param_list_length(list) {
                guard let parameter = g_mime_param_list_get_parameter_at(list, index),
                      let name = CString.borrowed(g_mime_param_get_name(parameter)) else { continue }
                entry.parameters[name.lowercased()] = CString.borrowed(g_mime_param_get_value(parameter)) ?? ""
            }
        }
        entry.disposition = CString.borrowed(g_mime_object_get_disposition(object))?.lowercased()
        if cgmime_is_multipart(object) != 0 {
            entries.append(entry)
            let multipart = cgmime_as_multipart(object)
            let count = g_mime_multipart_get_count(multipart)
            for index in 0..<max(count, 0) {
                guard let child = g_mime_multipart_get_part(multipart, index) else { continue }
                outline(child, path: path.isEmpty ? "\(index + 1)" : "\(path).\(index + 1)", depth: depth + 1, limits: limits, into: &entries)
            }
            return
        }
        if cgmime_is_part(object) != 0, let part = cgmime_as_part(object) {
            entry.filename = CString.borrowed(g_mime_part_get_filename(part))
            entry.transferEncoding = CString.borrowed(g_mime_content_encoding_to_string(g_mime_part_get_content_encoding(part)))?.lowercased()
            var content = Data()
            if let wrapper = g_mime_part_get_content(part), let sink = g_mime_stream_mem_new() {
                g_mime_data_wrapper_write_to_stream(wrapper, sink)
                if let array = cgmime_stream_mem_bytes(sink), array.pointee.len > 0, let bytes = array.pointee.data {
                    content = Data(bytes: bytes, count: Int(array.pointee.len))
                }
                cgmime_unref(sink)
            }
            entry.content = content
        }
        entries.append(entry)
    }
}
