import CTesseract
import Core
import Foundation

extension LeptonicaImage {
    /// Smallest longer side an image for the model is reduced to before it is left out.
    static let smallestModelImageSide = 256

    /// This page for the field model: 8-bit gray, the longer side at most
    /// `settings.maxSidePixels`, as PNG of at most `settings.maxBytes`. A PNG over the byte cap is
    /// scaled down again (by the square root of the overshoot, at least 10 % a step) until it fits;
    /// below `smallestModelImageSide` the page is left out. The note says when either happened.
    /// Runs in the extraction child: the page is hostile input until it is a small PNG.
    func modelImage(page: Int, settings: PageImageSettings) -> (image: PageImage?, note: String?) {
        func leftOut(_ why: String) -> (image: PageImage?, note: String?) { (nil, "page \(page): no image for the model: \(why)") }
        guard width > 0, height > 0 else { return leftOut("the page has no pixels") }
        let gray: LeptonicaImage
        if pixGetDepth(pix) == 8, pixGetColormap(pix) == nil {
            gray = self
        } else {
            guard let converted = pixConvertTo8(pix, 0) else { return leftOut("it cannot be converted to grayscale") }
            gray = LeptonicaImage(converted)
        }
        let longSide = Double(max(width, height))
        var factor = min(1, Double(settings.maxSidePixels) / longSide)
        var reduced = false
        while true {
            let scaled: LeptonicaImage
            if factor < 1 {
                guard let pix = pixScale(gray.pix, Float(factor), Float(factor)) else { return leftOut("it cannot be scaled") }
                scaled = LeptonicaImage(pix)
            } else {
                scaled = gray
            }
            guard let png = scaled.pngData() else { return leftOut("PNG encoding failed") }
            if png.count <= settings.maxBytes {
                let note = reduced
                    ? "page \(page): image for the model reduced to \(scaled.width)×\(scaled.height) px to stay under documents.model.image_max_bytes (\(settings.maxBytes) bytes)"
                    : nil
                return (PageImage(page: page, width: scaled.width, height: scaled.height, png: png), note)
            }
            let step = min(0.9, (Double(settings.maxBytes) / Double(png.count)).squareRoot() * 0.95)
            let next = factor * step
            if longSide * next < Double(Self.smallestModelImageSide) {
                return leftOut("its PNG is \(png.count) bytes at \(scaled.width)×\(scaled.height) px, over documents.model.image_max_bytes (\(settings.maxBytes) bytes)")
            }
            factor = next
            reduced = true
        }
    }

    /// The image as PNG (nil on failure).
    func pngData() -> Data? {
        var bytes: UnsafeMutablePointer<l_uint8>?
        var size = 0
        guard pixWriteMemPng(&bytes, &size, pix, 0) == 0, let bytes else { return nil }
        defer { free(bytes) }
        return Data(bytes: bytes, count: size)
    }
}

/// The page images of one extraction, in page order, and the notes about them.
struct PageImageCollector {
    let settings: PageImageSettings?
    private var collected: [PageImage] = []
    private var imageNotes: [String] = []

    init(_ settings: PageImageSettings?) {
        self.settings = settings
    }

    /// Nil when there are none (no scanned page, or images not asked for).
    var images: [PageImage]? { collected.isEmpty ? nil : collected }

    mutating func add(_ result: OCRResult) {
        guard let settings else { return }
        if let note = result.pageImageNote { imageNotes.append(note) }
        if let image = result.pageImage, collected.count < settings.maxImages { collected.append(image) }
    }

    /// `existing` notes followed by the image notes; nil when there are none.
    func notes(after existing: [String]?) -> [String]? {
        let all = (existing ?? []) + imageNotes
        return all.isEmpty ? nil : all
    }
}
