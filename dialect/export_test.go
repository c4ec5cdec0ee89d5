package dialect

// Runs returns how many times p has run.
func Runs(p *Program) uint64 { return p.runs.Load() }
