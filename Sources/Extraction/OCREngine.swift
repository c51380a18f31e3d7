import Core
import CTesseract
public import Foundation
import Synchronization

/// OCR settings for one extraction.
public struct OCRSettings: Sendable, Equatable, Codable {
    public var languages: [String]
    public var pageSegmentationMode: Int
    /// Orientation (OSD, when osd.traineddata is installed) and deskew (Leptonica) before OCR.
    public var autoRotate: Bool

    public init(languages: [String] = ["eng"], pageSegmentationMode: Int = 3, autoRotate: Bool = true) {
        self.languages = languages
        self.pageSegmentationMode = pageSegmentationMode
        self.autoRotate = autoRotate
    }
}

/// Result of OCR on one raster.
struct OCRResult: Sendable {
    var text: String
    /// Tesseract's mean word confidence, 0...100.
    var confidence: Double
    var rotation: Int?
    var skewDegrees: Double?
    /// The upright page for the field model, when asked for (`PageImageSettings`).
    var pageImage: PageImage?
    /// Why the page image was reduced or left out.
    var pageImageNote: String?
}

/// An owned Leptonica pix, destroyed with its owner.
// @unchecked Sendable: an image is created and consumed by one thread; it only crosses threads whole.
final class LeptonicaImage: @unchecked Sendable {
    let pix: UnsafeMutablePointer<PIX>

    init(_ pix: UnsafeMutablePointer<PIX>) { self.pix = pix }

    deinit { ctess_pix_destroy(pix) }

    var width: Int { Int(pixGetWidth(pix)) }
    var height: Int { Int(pixGetHeight(pix)) }

    /// Decodes an image file (PNG, JPEG, TIFF page `page`, WebP) with Leptonica.
    static func decode(_ data: Data, page: Int = 0) -> LeptonicaImage? {
        data.withUnsafeBytes { raw -> LeptonicaImage? in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: l_uint8.self) else { return nil }
            let pix = page == 0 ? pixReadMem(base, raw.count) : pixReadMemTiff(base, raw.count, Int32(page))
            return pix.map(LeptonicaImage.init)
        }
    }

    /// PNG of this image scaled to `width` pixels wide (nil on failure).
    func thumbnailPNG(width: Int) -> Data? {
        guard width > 0, self.width > 0 else { return nil }
        let factor = Float(min(1, Double(width) / Double(self.width)))
        guard let scaled = pixScale(pix, factor, factor) else { return nil }
        defer { ctess_pix_destroy(scaled) }
        var bytes: UnsafeMutablePointer<l_uint8>?
        var size = 0
        guard pixWriteMemPng(&bytes, &size, scaled, 0) == 0, let bytes else { return nil }
        defer { free(bytes) }
        return Data(bytes: bytes, count: size)
    }
}

/// One Tesseract handle (and, when osd.traineddata is installed, an orientation handle). A handle
/// is used by one thread at a time: `OCRPool` hands it out and takes it back.
final class TesseractHandle {
    private let api: OpaquePointer
    private var osd: OpaquePointer?
    private let settings: OCRSettings

    struct InitError: Error, Sendable, CustomStringConvertible {
        var description: String
    }

    init(settings: OCRSettings) throws(InitError) {
        guard let api = TessBaseAPICreate() else { throw InitError(description: "cannot create a Tesseract handle") }
        let languages = settings.languages.joined(separator: "+")
        if TessBaseAPIInit3(api, nil, languages) != 0 {
            TessBaseAPIDelete(api)
            throw InitError(description: "Tesseract cannot load language data \"\(languages)\" (install tesseract-ocr-<lang>)")
        }
        TessBaseAPISetPageSegMode(api, TessPageSegMode(UInt32(settings.pageSegmentationMode)))
        // Tesseract's own debug output would interleave with the JSON on stdout of the child.
        _ = TessBaseAPISetVariable(api, "debug_file", "/dev/null")
        self.api = api
        self.settings = settings
        if settings.autoRotate, Self.osdAvailable, let osd = TessBaseAPICreate() {
            if TessBaseAPIInit3(osd, nil, "osd") == 0 {
                TessBaseAPISetPageSegMode(osd, PSM_OSD_ONLY)
                _ = TessBaseAPISetVariable(osd, "debug_file", "/dev/null")
                self.osd = osd
            } else {
                TessBaseAPIDelete(osd)
            }
        }
    }

    deinit {
        TessBaseAPIEnd(api)
        TessBaseAPIDelete(api)
        if let osd {
            TessBaseAPIEnd(osd)
            TessBaseAPIDelete(osd)
        }
    }

    /// Whether Tesseract's orientation data is installed (Debian tesseract-ocr-osd).
    static let osdAvailable: Bool = {
        let directories = ["/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata", "/usr/share/tessdata"]
            + (ProcessInfo.processInfo.environment["TESSDATA_PREFIX"].map { [$0] } ?? [])
        return directories.contains { FileManager.default.fileExists(atPath: $0 + "/osd.traineddata") }
    }()

    /// OCR of `image` (rotated and deskewed first when `autoRotate`), at `dpi`. With `pageImage`,
    /// the page as OCR saw it (upright) is also rendered for the field model as page `page`.
    func recognize(_ image: LeptonicaImage, dpi: Int, pageImage: PageImageSettings? = nil, page: Int = 1) -> OCRResult {
        var current = image
        var rotation: Int?
        var skew: Double?
        if settings.autoRotate {
            if let osd {
                TessBaseAPISetImage2(osd, current.pix)
                TessBaseAPISetSourceResolution(osd, Int32(dpi))
                var degrees: Int32 = 0
                var confidence: Float = 0
                var script: UnsafePointer<CChar>?
                var scriptConfidence: Float = 0
                // `degrees` is the page's orientation; the clockwise turn that makes it upright is
                // 360 - degrees (what `tesseract --psm 0` prints as "Rotate"). pixRotateOrth turns
                // clockwise by quarter turns.
                if TessBaseAPIDetectOrientationScript(osd, &degrees, &confidence, &script, &scriptConfidence) != 0,
                   degrees % 360 != 0, confidence >= 2 {
                    let quarters = (4 - (Int(degrees) / 90) % 4) % 4
                    if let rotated = pixRotateOrth(current.pix, Int32(quarters)) {
                        current = LeptonicaImage(rotated)
                        rotation = quarters * 90
                    }
                }
                TessBaseAPIClear(osd)
            }
            var angle: Float = 0
            var confidence: Float = 0
            if let gray = pixConvertTo8(current.pix, 0) {
                let grayImage = LeptonicaImage(gray)
                current = grayImage
                if let deskewed = pixFindSkewAndDeskew(grayImage.pix, 2, &angle, &confidence) {
                    current = LeptonicaImage(deskewed)
                    if confidence > 0, abs(angle) >= 0.1 { skew = Double(angle) }
                }
            }
        }
        TessBaseAPISetImage2(api, current.pix)
        TessBaseAPISetSourceResolution(api, Int32(dpi))
        var text = ""
        if let utf8 = TessBaseAPIGetUTF8Text(api) {
            text = String(cString: utf8)
            TessDeleteText(utf8)
        }
        let confidence = Double(TessBaseAPIMeanTextConf(api))
        TessBaseAPIClear(api)
        var result = OCRResult(text: text, confidence: confidence, rotation: rotation, skewDegrees: skew)
        if let pageImage {
            let rendered = current.modelImage(page: page, settings: pageImage)
            result.pageImage = rendered.image
            result.pageImageNote = rendered.note
        }
        return result
    }
}

/// Tesseract handles for one extraction: at most `size`, created on first use, each lent to one
/// thread at a time (Tesseract handles are not thread-safe).
final class OCRPool: Sendable {
    private let settings: OCRSettings
    private let size: Int
    // The handles are only touched by the thread that checked them out; the mutex guards the list.
    private let state: Mutex<(idle: [UnsafeSendableHandle], created: Int)>

    /// Lets the (non-Sendable) handle class sit in the Mutex; see `OCRPool`.
    struct UnsafeSendableHandle: @unchecked Sendable {
        let handle: TesseractHandle
    }

    init(settings: OCRSettings, size: Int) {
        self.settings = settings
        self.size = max(1, size)
        state = Mutex((idle: [], created: 0))
    }

    /// Runs `body` with a handle no other thread is using.
    func withHandle<T>(_ body: (TesseractHandle) throws -> T) throws -> T {
        let taken: UnsafeSendableHandle? = state.withLock { state in
            state.idle.popLast()
        }
        let handle: TesseractHandle
        if let taken {
            handle = taken.handle
        } else {
            handle = try TesseractHandle(settings: settings)
            state.withLock { $0.created += 1 }
        }
        defer { state.withLock { $0.idle.append(UnsafeSendableHandle(handle: handle)) } }
        return try body(handle)
    }

    var concurrency: Int { size }
}
