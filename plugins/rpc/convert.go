package rpc

import (
	"encoding/json"

	"github.com/ccq-project/ccq/plugins/optimizer"
	pb "github.com/ccq-project/ccq/plugins/proto/optimizerpb"
)

func i8ToBytes(v []int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func bytesToI8(b []byte) []int8 {
	v := make([]int8, len(b))
	for i, x := range b {
		v[i] = int8(x)
	}
	return v
}

func deltaToPB(d *optimizer.Delta) *pb.Delta {
	if d == nil {
		return nil
	}
	return &pb.Delta{Indices: d.Indices, Levels: i8ToBytes(d.Levels)}
}

func deltaFromPB(d *pb.Delta) optimizer.Delta {
	return optimizer.Delta{Indices: d.GetIndices(), Levels: bytesToI8(d.GetLevels())}
}

func infoToPB(in optimizer.Info) *pb.InfoResponse {
	out := &pb.InfoResponse{Name: in.Name, Version: in.Version, Description: in.Description}
	for _, p := range in.Params {
		out.Params = append(out.Params, &pb.Param{Name: p.Name, Type: p.Type, Default: p.Default, Meaning: p.Meaning})
	}
	return out
}

func infoFromPB(in *pb.InfoResponse) optimizer.Info {
	out := optimizer.Info{Name: in.GetName(), Version: in.GetVersion(), Description: in.GetDescription()}
	for _, p := range in.GetParams() {
		out.Params = append(out.Params, optimizer.Param{Name: p.GetName(), Type: p.GetType(), Default: p.GetDefault(), Meaning: p.GetMeaning()})
	}
	return out
}

func problemToPB(p *optimizer.Problem) *pb.InitRequest {
	out := &pb.InitRequest{
		Start: i8ToBytes(p.Start), Lo: i8ToBytes(p.Lo), Hi: i8ToBytes(p.Hi), Alphabet: i8ToBytes(p.Alphabet),
		Seed: p.Seed, ParamsJson: string(p.Params), BudgetEvaluations: p.BudgetEvaluations, Lambda: int32(p.Lambda),
	}
	for _, l := range p.Layers {
		pl := &pb.Layer{Name: l.Name, Offset: int64(l.Offset), Count: int64(l.Count)}
		for _, s := range l.Shape {
			pl.Shape = append(pl.Shape, int64(s))
		}
		out.Layers = append(out.Layers, pl)
	}
	return out
}

func problemFromPB(in *pb.InitRequest) *optimizer.Problem {
	p := &optimizer.Problem{
		Start: bytesToI8(in.GetStart()), Lo: bytesToI8(in.GetLo()), Hi: bytesToI8(in.GetHi()),
		Seed: in.GetSeed(), BudgetEvaluations: in.GetBudgetEvaluations(), Lambda: int(in.GetLambda()),
	}
	if a := in.GetAlphabet(); len(a) > 0 {
		p.Alphabet = bytesToI8(a)
	}
	if s := in.GetParamsJson(); s != "" {
		p.Params = json.RawMessage(s)
	}
	for _, l := range in.GetLayers() {
		ol := optimizer.Layer{Name: l.GetName(), Offset: int(l.GetOffset()), Count: int(l.GetCount())}
		for _, s := range l.GetShape() {
			ol.Shape = append(ol.Shape, int(s))
		}
		p.Layers = append(p.Layers, ol)
	}
	return p
}

func askToPB(a *optimizer.Ask) *pb.AskResponse {
	out := &pb.AskResponse{Base: deltaToPB(a.Base), Stats: a.Stats, Done: a.Done}
	out.Candidates = make([]*pb.Delta, len(a.Candidates))
	for k := range a.Candidates {
		out.Candidates[k] = deltaToPB(&a.Candidates[k])
	}
	return out
}

func askFromPB(in *pb.AskResponse) *optimizer.Ask {
	a := &optimizer.Ask{Stats: in.GetStats(), Done: in.GetDone()}
	if b := in.GetBase(); b != nil {
		d := deltaFromPB(b)
		a.Base = &d
	}
	a.Candidates = make([]optimizer.Delta, len(in.GetCandidates()))
	for k, c := range in.GetCandidates() {
		a.Candidates[k] = deltaFromPB(c)
	}
	return a
}
