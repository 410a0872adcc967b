import Media
import Testing

@Suite struct ContactSheetTests {
    @Test func enlargedRepeatsEachPixelAsABlock() {
        let image = GreyImage(width: 2, height: 3, pixels: [0, 0.1, 0.2, 0.3, 0.4, 0.5])
        let big = image.enlarged(by: 3)
        #expect(big.width == 6 && big.height == 9)
        for y in 0..<9 {
            for x in 0..<6 {
                #expect(big.pixels[y * 6 + x] == image.pixels[(y / 3) * 2 + x / 3])
            }
        }
        #expect(image.enlarged(by: 1) == image)
    }

    @Test func gridPlacesImagesRowByRowWithPadding() {
        let images = (1...3).map { GreyImage(width: 2, height: 2, pixels: Array(repeating: Float($0) / 10, count: 4)) }
        let sheet = GreyImage.grid(images, columns: 2, padding: 1, background: 0.9)
        #expect(sheet.width == 7 && sheet.height == 7)
        // Cells start at 1 and 4 in each direction; everything else is background.
        func owner(_ coordinate: Int) -> Int? { (1...2).contains(coordinate) ? 0 : (4...5).contains(coordinate) ? 1 : nil }
        for y in 0..<7 {
            for x in 0..<7 {
                var expected: Float = 0.9
                if let column = owner(x), let row = owner(y), row * 2 + column < 3 {
                    expected = Float(row * 2 + column + 1) / 10
                }
                #expect(sheet.pixels[y * 7 + x] == expected, "pixel (\(x), \(y))")
            }
        }
    }

    @Test func gridWithoutPaddingTilesExactly() {
        let a = GreyImage(width: 2, height: 1, pixels: [1, 2])
        let b = GreyImage(width: 2, height: 1, pixels: [3, 4])
        #expect(GreyImage.grid([a, b], columns: 1, padding: 0, background: 0)
                == GreyImage(width: 2, height: 2, pixels: [1, 2, 3, 4]))
        // Asking for more columns than images uses only as many as there are.
        #expect(GreyImage.grid([a, b], columns: 10, padding: 0, background: 0)
                == GreyImage(width: 4, height: 1, pixels: [1, 2, 3, 4]))
    }
}
