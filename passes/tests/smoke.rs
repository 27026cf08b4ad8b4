use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape};
use hektor_passes::pass::{pipeline_for, TargetCaps};
use hektor_passes::{build, parse, print};

#[test]
fn show() {
    let spec = KernelSpec::new(Metric::Cosine, ElementType::F32, 10, Shape::Gather).unwrap();
    let mut f = build::kernel_ir(&spec);
    println!("{}", print::print(&f));
    let sched: Schedule = "width=4,acc=2,unroll=1,tail=masked".parse().unwrap();
    let pm = pipeline_for(&spec, &sched, TargetCaps { fma: true });
    pm.run(&mut f, |name, f| {
        println!("; after {name}\n{}", print::print(f))
    })
    .unwrap();
    let text = print::print(&f);
    let g = parse::parse(&text).unwrap();
    assert_eq!(print::print(&g), text);
}
