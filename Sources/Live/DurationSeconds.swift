extension Duration {
    /// The duration in seconds, for sleeps, rates and the latency budget.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
