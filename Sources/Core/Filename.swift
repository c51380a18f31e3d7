import Foundation

/// Filenames that came from outside (form uploads, mail attachments). The one sanitiser every
/// intake path uses, so a name is cleaned the same way however it arrived.
public enum Filename {
    /// Longest name kept, in characters (the extension survives the cut).
    public static let maxLength = 200

    /// Keeps the last path component, drops control characters and leading dots, caps the length:
    /// the name is shown to people and may become part of a path later.
    public static func sanitize(_ name: String) -> String {
        let lastComponent = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var cleaned = String(lastComponent.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }.map(Character.init))
        while cleaned.hasPrefix(".") { cleaned.removeFirst() }
        cleaned = cleaned.trimmingCharacters(in: .whitespaces)
        if cleaned.count > maxLength {
            let ext = (cleaned as NSString).pathExtension
            cleaned = String(cleaned.prefix(maxLength - ext.count - 1)) + (ext.isEmpty ? "" : "." + ext)
        }
        return cleaned
    }
}
