package vec

// The pure-Go twins. Each computes exactly what its assembly version does
// per element (the sums only up to the order of additions); the explicit
// float32 conversions round every product, so the compiler cannot fuse a
// multiply and an add that the assembly does not fuse.

func scaleShiftGo(dst, x []float32, scale, shift float32, relu bool) {
	x = x[:len(dst)]
	for i, v := range x {
		r := float32(v*scale) + shift
		if relu && r < 0 {
			r = 0
		}
		dst[i] = r
	}
}

func addGo(dst, a, b []float32, relu bool) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		r := a[i] + b[i]
		if relu && r < 0 {
			r = 0
		}
		dst[i] = r
	}
}

func maskGradGo(dst, dy, out []float32, acc bool) {
	dy, out = dy[:len(dst)], out[:len(dst)]
	for i := range dst {
		var d float32
		if out[i] > 0 {
			d = dy[i]
		}
		if acc {
			d = dst[i] + d
		}
		dst[i] = d
	}
}

func sumGo(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func sumSqDevGo(x []float32, mu float32) float32 {
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(x); i += 2 {
		d0, d1 := x[i]-mu, x[i+1]-mu
		s0 += d0 * d0
		s1 += d1 * d1
	}
	for ; i < len(x); i++ {
		d := x[i] - mu
		s0 += d * d
	}
	return s0 + s1
}

func dotDevGo(dy, out, x []float32, mu float32) (float32, float32) {
	x = x[:len(dy)]
	var s, t float32
	for i, v := range dy {
		if out != nil && !(out[i] > 0) {
			continue
		}
		s += v
		t += v * (x[i] - mu)
	}
	return s, t
}

func bnDxGo(dst, dy, out, x []float32, a, c, b float32, acc bool) {
	dy, x = dy[:len(dst)], x[:len(dst)]
	for i := range dst {
		d := dy[i]
		if out != nil && !(out[i] > 0) {
			d = 0
		}
		r := (float32(a*d) + float32(c*x[i])) + b
		if acc {
			r = dst[i] + r
		}
		dst[i] = r
	}
}

func sgdGo(p, g, buf []float32, lr, mu, wd float32, first, nesterov bool) {
	g, buf = g[:len(p)], buf[:len(p)]
	for i := range p {
		d := g[i] + float32(wd*p[i])
		b := d
		if !first {
			b = float32(mu*buf[i]) + d
		}
		buf[i] = b
		if nesterov {
			d = d + float32(mu*b)
		} else {
			d = b
		}
		p[i] = p[i] - float32(lr*d)
	}
}
