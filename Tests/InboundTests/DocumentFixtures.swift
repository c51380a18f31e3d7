import Foundation

/// Small documents written byte by byte in the tests (no tools needed): PDFs with a text layer,
/// with thousands of pages, with a Flate bomb, and image headers that lie about their size.
enum DocumentFixtures {
    /// A PDF whose pages each show `lines` in Helvetica (a real text layer).
    static func textPDF(pages: [[String]], mediaBox: String = "0 0 612 792") -> Data {
        var objects: [String] = []
        let pageCount = pages.count
        // 1: catalog, 2: pages, 3: font, then per page: page object + content stream.
        objects.append("<< /Type /Catalog /Pages 2 0 R >>")
        let kids = (0..<pageCount).map { "\(4 + $0 * 2) 0 R" }.joined(separator: " ")
        objects.append("<< /Type /Pages /Kids [\(kids)] /Count \(pageCount) >>")
        objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        for lines in pages {
            let contentID = objects.count + 2
            objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [\(mediaBox)] /Resources << /Font << /F1 3 0 R >> >> /Contents \(contentID) 0 R >>")
            var content = "BT /F1 24 Tf 72 700 Td 30 TL\n"
            for line in lines {
                let escaped = line.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "(", with: "\\(").replacingOccurrences(of: ")", with: "\\)")
                content += "(\(escaped)) Tj T*\n"
            }
            content += "ET"
            objects.append("<< /Length \(content.utf8.count) >>\nstream\n\(content)\nendstream")
        }
        return assemble(objects.map { Data($0.utf8) })
    }

    /// `count` tiny pages (one shared empty content stream): the 20,000-page PDF.
    static func manyPagesPDF(count: Int) -> Data {
        var objects: [Data] = []
        objects.append(Data("<< /Type /Catalog /Pages 2 0 R >>".utf8))
        let kids = (0..<count).map { "\(4 + $0) 0 R" }.joined(separator: " ")
        objects.append(Data("<< /Type /Pages /Kids [\(kids)] /Count \(count) >>".utf8))
        objects.append(Data("<< /Length 0 >>\nstream\n\nendstream".utf8))
        for _ in 0..<count {
            objects.append(Data("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 3 0 R >>".utf8))
        }
        return assemble(objects)
    }

    /// A one-page PDF whose content stream is `compressed` (zlib), declared FlateDecode.
    static func flatePDF(compressed: Data) -> Data {
        var stream = Data("<< /Length \(compressed.count) /Filter /FlateDecode >>\nstream\n".utf8)
        stream.append(compressed)
        stream.append(Data("\nendstream".utf8))
        return assemble([
            Data("<< /Type /Catalog /Pages 2 0 R >>".utf8),
            Data("<< /Type /Pages /Kids [4 0 R] /Count 1 >>".utf8),
            stream,
            Data("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>".utf8),
        ])
    }

    /// A zlib stream that inflates to `bytes` spaces (rounded up to 258): one fixed-Huffman deflate
    /// block of a literal and repeated <length 258, distance 1> matches, 13 bits per 258 bytes.
    static func flateBomb(inflating bytes: Int) -> Data {
        var writer = BitWriter()
        writer.bits(1, 1)  // BFINAL
        writer.bits(1, 2)  // BTYPE = fixed Huffman
        writer.huffman(0x30 + 0x20, 8)  // literal ' '
        let matches = (bytes - 1 + 257) / 258
        for _ in 0..<matches {
            writer.huffman(0xC5, 8)  // length code 285 = 258
            writer.huffman(0, 5)  // distance code 0 = 1
        }
        writer.huffman(0, 7)  // end of block
        let body = writer.finished
        let total = 1 + matches * 258
        let a = (1 + 32 * total) % 65521
        let b = (total + 32 * ((total * (total + 1) / 2) % 65521)) % 65521
        var out = Data([0x78, 0x01])
        out.append(body)
        out.append(contentsOf: [UInt8(b >> 8), UInt8(b & 0xFF), UInt8(a >> 8), UInt8(a & 0xFF)])
        return out
    }

    struct BitWriter {
        var data = Data()
        var current: UInt32 = 0
        var filled = 0

        /// `count` bits of `value`, least significant first (deflate's header fields).
        mutating func bits(_ value: UInt32, _ count: Int) {
            for i in 0..<count { push((value >> UInt32(i)) & 1) }
        }

        /// A Huffman code, most significant bit first.
        mutating func huffman(_ code: UInt32, _ length: Int) {
            for i in stride(from: length - 1, through: 0, by: -1) { push((code >> UInt32(i)) & 1) }
        }

        private mutating func push(_ bit: UInt32) {
            current |= bit << UInt32(filled)
            filled += 1
            if filled == 8 { flush() }
        }

        private mutating func flush() {
            data.append(UInt8(current & 0xFF))
            current = 0
            filled = 0
        }

        var finished: Data {
            var copy = self
            if copy.filled > 0 { copy.flush() }
            return copy.data
        }
    }

    static func assemble(_ objects: [Data]) -> Data {
        var out = Data("%PDF-1.4\n%\u{E2}\u{E3}\u{CF}\u{D3}\n".utf8)
        var offsets: [Int] = []
        for (index, object) in objects.enumerated() {
            offsets.append(out.count)
            out.append(Data("\(index + 1) 0 obj\n".utf8))
            out.append(object)
            out.append(Data("\nendobj\n".utf8))
        }
        let xref = out.count
        var table = "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
        for offset in offsets { table += String(format: "%010d 00000 n \n", offset) }
        table += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        out.append(Data(table.utf8))
        return out
    }

    /// A PNG signature + IHDR claiming `width`×`height` (8-bit gray), and nothing else useful.
    static func pngHeader(width: UInt32, height: UInt32) -> Data {
        var data = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13])
        data.append(Data("IHDR".utf8))
        for value in [width, height] { data.append(contentsOf: withUnsafeBytes(of: value.bigEndian) { Array($0) }) }
        data.append(contentsOf: [8, 0, 0, 0, 0, 0, 0, 0, 0])
        data.append(Data([0, 0, 0, 0]) + Data("IEND".utf8) + Data([0xAE, 0x42, 0x60, 0x82]))
        return data
    }

    /// The first bytes of an x86-64 ELF executable.
    static let elf = Data([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00] + Array(repeating: 0, count: 120))
}
