use hektor_codegen::cranelift::CraneliftBackend;
use hektor_codegen::{compile, disasm, CompileOptions};
use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape};

#[test]
fn quick() {
    let be = CraneliftBackend::host().unwrap();
    for dim in [1usize, 3, 7, 10, 13, 96, 768] {
        for m in Metric::ALL {
            for s in Shape::ALL {
                for sched in ["", "tail=masked", "tail=padded", "width=1,acc=3", "unroll=full,acc=2"] {
                    let spec = KernelSpec::new(m, ElementType::F32, dim, s).unwrap();
                    let sc: Schedule = sched.parse().unwrap();
                    let c = compile(&spec, &sc, &be, CompileOptions::default());
                    match c {
                        Ok(c) => {
                            if dim == 768 && sched.is_empty() {
                                println!("{spec} {:?} {:?}", c.kernel.stats(), c.report)
                            }
                        }
                        Err(e) => panic!("{spec} {sched}: {e}"),
                    }
                }
            }
        }
    }
    let spec = KernelSpec::new(Metric::Cosine, ElementType::F32, 768, Shape::Pair).unwrap();
    let c = compile(&spec, &Schedule::default(), &be, CompileOptions { record: true }).unwrap();
    let asm = disasm::disassemble(c.kernel.code(), c.kernel.address());
    println!("{asm}");
}
