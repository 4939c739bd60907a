//! A multi-shot video: the total duration comes from the shots.
//!
//! ```text
//! cargo run --features emulator --example multi_shot
//! ```

mod common;

use runcomfy::MultiShot;
use runcomfy::models::kling::kling_3_0::standard::text_to_video::AspectRatio;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::report(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let live = std::env::args().any(|a| a == "--live");
    let target = common::connect(live, common::quick_emulator()).await?;

    let mut input =
        MultiShot::new("A father teaches his daughter to ride a bike on an autumn street")
            .shot("Wide establishing shot of the leafy street, golden hour", 4)
            .shot("Low tracking shot following the wobbling pink bike", 3)
            .shot("Slow-motion crane pull-back as she rides away alone", 5)
            .build()?;
    input.aspect_ratio = Some(AspectRatio::Ratio16x9);
    println!(
        "{} s in {} shots",
        input.duration.unwrap_or_default(),
        input.multi_prompt.len()
    );

    let result = target.client.run(&input).await?;
    std::fs::create_dir_all("output")?;
    for path in target.client.download_result(&result, "output").await? {
        println!("{}", path.display());
    }
    Ok(())
}
