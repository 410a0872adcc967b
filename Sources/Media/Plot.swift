import Foundation

/// The ticks of one axis at round numbers, and the decimals their labels need; the axis runs
/// from the first tick to the last.
public struct NiceScale {
    public let values: [Double]
    let decimals: Int

    /// Evenly spaced ticks 1, 2 or 5 times a power of ten apart, the first at or below
    /// `range.lowerBound` and the last at or above `range.upperBound`: the finest such step that
    /// needs at most `maximumCount` ticks. A range of one value is widened around it.
    /// `wholeSteps`: ticks only at whole numbers (for counts such as epochs).
    public init(covering range: ClosedRange<Double>, maximumCount: Int = 9, wholeSteps: Bool = false) {
        precondition(range.lowerBound.isFinite && range.upperBound.isFinite, "Ticks: the range \(range) is not finite")
        // Two ticks cannot always do: a range around 0 needs one on each side of it.
        precondition(maximumCount >= 3, "Ticks: maximumCount must be at least 3, got \(maximumCount)")
        var (low, high) = (range.lowerBound, range.upperBound)
        if high - low <= 1e-9 * max(abs(low), abs(high)) {
            let half = low == 0 ? 1 : abs(low) / 10
            (low, high) = (low - half, high + half)
        }
        // No step finer than this fits; start from the nice step at or just below it.
        let finest = (high - low) / Double(maximumCount - 1)
        var exponent = Int(log10(finest).rounded(.down))
        if wholeSteps { exponent = max(exponent, 0) }
        var multiple = 1
        while true {
            let scale = pow(10, Double(abs(exponent)))
            // Tick k is k * multiple * 10^exponent, computed so that 0.1-style steps print exactly.
            func tick(_ k: Int) -> Double {
                exponent >= 0 ? Double(k * multiple) * scale : Double(k * multiple) / scale
            }
            let step = tick(1)
            var first = Int((low / step).rounded(.down))
            while tick(first) > low { first -= 1 }
            while tick(first + 1) <= low { first += 1 }
            var last = Int((high / step).rounded(.up))
            while tick(last) < high { last += 1 }
            while tick(last - 1) >= high { last -= 1 }
            if last - first < maximumCount {
                values = (first...last).map(tick)
                decimals = max(0, -exponent)
                return
            }
            // Once the step reaches the range's length, three ticks suffice, so this ends.
            switch multiple {
            case 1: multiple = 2
            case 2: multiple = 5
            default: (multiple, exponent) = (1, exponent + 1)
            }
        }
    }

    var low: Double { values.first! }
    var high: Double { values.last! }

    /// Ticks are exact multiples of the step, so this many decimals show them exactly.
    func label(_ value: Double) -> String {
        String(format: "%.\(decimals)f", value)
    }

    /// The most ticks, up to 9, whose labels do not crowd each other along `length` px, where
    /// `labelExtent` is how much of the axis a scale's widest label needs.
    static func fitting(_ range: ClosedRange<Double>, length: Double, wholeSteps: Bool = false,
                        labelExtent: (NiceScale) -> Double) -> NiceScale {
        var scale = NiceScale(covering: range, maximumCount: 9, wholeSteps: wholeSteps)
        while scale.values.count > 3,
              length / Double(scale.values.count - 1) < labelExtent(scale) + 8 {
            scale = NiceScale(covering: range, maximumCount: scale.values.count - 1, wholeSteps: wholeSteps)
        }
        return scale
    }
}

/// The span of the finite values among `values`, or 0...1 if there are none.
func finiteRange<S: Sequence>(_ values: S) -> ClosedRange<Double> where S.Element == Double {
    var low = Double.infinity
    var high = -Double.infinity
    for value in values where value.isFinite {
        low = min(low, value)
        high = max(high, value)
    }
    return low <= high ? low...high : 0...1
}

/// Tableau 10, a qualitative palette whose colours stay distinguishable side by side.
let qualitativeColours = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

/// The parts every plot shares: title, frame, grid, ticks, axis titles and a legend on the right.
/// Sizes are in px; text widths are estimated (DejaVu Sans is about 0.6 em a character), so the
/// margins fit the labels without a font at hand.
struct PlotFrame {
    let width: Double
    let height: Double
    let title: String
    let xLabel: String
    let yLabel: String
    let x: NiceScale
    let y: NiceScale
    let legendNames: [String]

    /// The plot area.
    let left: Double
    let right: Double
    let top: Double
    let bottom: Double

    private static let tickLength = 5.0
    private static let legendRowHeight = 20.0

    init(width: Double, height: Double, title: String, xLabel: String, yLabel: String,
         xRange: ClosedRange<Double>, yRange: ClosedRange<Double>, legendNames: [String], wholeXSteps: Bool = false) {
        (self.width, self.height, self.title, self.xLabel, self.yLabel) = (width, height, title, xLabel, yLabel)
        self.legendNames = legendNames
        top = title.isEmpty ? 16 : 44
        bottom = height - (xLabel.isEmpty ? 30 : 50)
        // Without a legend, the margin holds half of the last x tick label, centred on the edge.
        let legendWidth = 20 + (legendNames.map { Self.textWidth($0, fontSize: 12) }.max() ?? 0)
        right = width - (legendNames.isEmpty ? 40 : legendWidth + 34)
        // Tick labels on the y axis stack, so only their height must fit between ticks; the
        // widest then sets the left margin, and the rest of the width is the x axis's.
        let y = NiceScale.fitting(yRange, length: bottom - top) { _ in 11 }
        let yTickWidth = y.values.map { Self.textWidth(y.label($0), fontSize: 11) }.max()!
        self.y = y
        left = 12 + (yLabel.isEmpty ? 0 : 23) + yTickWidth + Self.tickLength + 3
        precondition(right - left >= 20 && bottom - top >= 20,
                     "plot: \(Int(width))x\(Int(height)) px leaves no room for the data")
        x = NiceScale.fitting(xRange, length: right - left, wholeSteps: wholeXSteps) { scale in
            scale.values.map { Self.textWidth(scale.label($0), fontSize: 11) }.max()!
        }
    }

    static func textWidth(_ text: String, fontSize: Double) -> Double {
        Double(text.count) * 0.6 * fontSize
    }

    func px(_ value: Double) -> Double {
        left + (value - x.low) / (x.high - x.low) * (right - left)
    }

    func py(_ value: Double) -> Double {
        bottom - (value - y.low) / (y.high - y.low) * (bottom - top)
    }

    /// Everything under the data: the document's start, background, grid, title and axis text.
    func opening(style: String) -> String {
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(svgNumber(width))" height="\(svgNumber(height))" \
            viewBox="0 0 \(svgNumber(width)) \(svgNumber(height))">
            <style>
            text{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;fill:#222}
            .title{font-size:16px;font-weight:bold;text-anchor:middle}
            .xlabel,.ylabel{font-size:13px;text-anchor:middle}
            .xtick{font-size:11px;text-anchor:middle}
            .ytick{font-size:11px;text-anchor:end}
            .legend text{font-size:12px}
            .grid{stroke:#e4e4e4;fill:none}
            .axis{stroke:#333;fill:none}
            \(style)</style>
            <rect width="100%" height="100%" fill="#fff"/>

            """
        let xs = x.values.map(px)
        let ys = y.values.map(py)
        let grid = xs.map { "M\(svgNumber($0)) \(svgNumber(top))V\(svgNumber(bottom))" }
            + ys.map { "M\(svgNumber(left)) \(svgNumber($0))H\(svgNumber(right))" }
        svg += "<path class=\"grid\" shape-rendering=\"crispEdges\" d=\"\(grid.joined())\"/>\n"
        if !title.isEmpty {
            svg += "<text class=\"title\" x=\"\(svgNumber((left + right) / 2))\" y=\"28\">\(escapeXML(title))</text>\n"
        }
        for (value, position) in zip(x.values, xs) {
            svg += "<text class=\"xtick\" x=\"\(svgNumber(position))\" y=\"\(svgNumber(bottom + 18))\">\(x.label(value))</text>\n"
        }
        for (value, position) in zip(y.values, ys) {
            svg += "<text class=\"ytick\" x=\"\(svgNumber(left - Self.tickLength - 3))\" y=\"\(svgNumber(position + 4))\">\(y.label(value))</text>\n"
        }
        if !xLabel.isEmpty {
            svg += "<text class=\"xlabel\" x=\"\(svgNumber((left + right) / 2))\" y=\"\(svgNumber(bottom + 40))\">\(escapeXML(xLabel))</text>\n"
        }
        if !yLabel.isEmpty {
            let (textX, textY) = (svgNumber(24), svgNumber((top + bottom) / 2))
            svg += "<text class=\"ylabel\" x=\"\(textX)\" y=\"\(textY)\" transform=\"rotate(-90 \(textX) \(textY))\">\(escapeXML(yLabel))</text>\n"
        }
        return svg
    }

    /// Everything over the data: the frame, tick marks and legend (`marker` draws entry i's key
    /// centred at a point), and the document's end.
    func closing(marker: (_ index: Int, _ x: Double, _ y: Double) -> String) -> String {
        let t = Self.tickLength
        let marks = x.values.map { "M\(svgNumber(px($0))) \(svgNumber(bottom))v\(svgNumber(t))" }
            + y.values.map { "M\(svgNumber(left - t)) \(svgNumber(py($0)))h\(svgNumber(t))" }
        var svg = "<path class=\"axis\" shape-rendering=\"crispEdges\" d=\"M\(svgNumber(left)) \(svgNumber(top))"
            + "H\(svgNumber(right))V\(svgNumber(bottom))H\(svgNumber(left))Z\(marks.joined())\"/>\n"
        if !legendNames.isEmpty {
            svg += "<g class=\"legend\">\n"
            for (index, name) in legendNames.enumerated() {
                let keyX = right + 24
                let rowY = top + 10 + Double(index) * Self.legendRowHeight
                svg += marker(index, keyX, rowY)
                svg += "<text x=\"\(svgNumber(keyX + 14))\" y=\"\(svgNumber(rowY + 4))\">\(escapeXML(name))</text>\n"
            }
            svg += "</g>\n"
        }
        return svg + "</svg>\n"
    }
}

/// A coordinate to 0.1 px, without a trailing ".0": enough for the eye, and short in a file of
/// ten thousand points.
func svgNumber(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    let magnitude = abs(tenths)
    let sign = tenths < 0 ? "-" : ""
    return magnitude % 10 == 0 ? "\(sign)\(magnitude / 10)" : "\(sign)\(magnitude / 10).\(magnitude % 10)"
}

/// `text` with the characters XML and HTML give a meaning (& < > ") written as entities.
public func escapeXML(_ text: String) -> String {
    var escaped = ""
    for character in text {
        switch character {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        default: escaped.append(character)
        }
    }
    return escaped
}
