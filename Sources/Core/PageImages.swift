public import Foundation

/// How the extraction child renders scanned pages for the field model (`documents.model` with
/// `send_images`): which pages, how large, how many bytes at most. Part of `ExtractionSettings`.
public struct PageImageSettings: Sendable, Codable, Equatable {
    /// The first this many OCRed pages get an image.
    public var maxImages: Int
    /// The longer side is scaled down to this many pixels (never up).
    public var maxSidePixels: Int
    /// Largest PNG; a larger one is scaled down further, or left out with a note.
    public var maxBytes: Int

    public init(maxImages: Int = 2, maxSidePixels: Int = 1600, maxBytes: Int = 2 << 20) {
        self.maxImages = maxImages
        self.maxSidePixels = maxSidePixels
        self.maxBytes = maxBytes
    }
}

/// One scanned page as a downscaled 8-bit grayscale PNG, upright (after the orientation and
/// deskew OCR applied), for the field model. Transient: the daemon hands it to the model and
/// never stores it.
public struct PageImage: Sendable, Codable, Equatable {
    /// 1-based page (or TIFF frame) number.
    public var page: Int
    public var width: Int
    public var height: Int
    /// The PNG bytes (base64 in JSON).
    public var png: Data

    public init(page: Int, width: Int, height: Int, png: Data) {
        self.page = page
        self.width = width
        self.height = height
        self.png = png
    }

    /// `data:image/png;base64,...`, for a Chat Completions `image_url` content part.
    public var dataURL: String { "data:image/png;base64," + png.base64EncodedString() }
}
