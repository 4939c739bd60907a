//! `runcomfy models`: the catalogue, its categories, one model's info.

use crate::cli::{Global, ModelsArgs, ModelsCommand};
use crate::context::Context;
use crate::exit::Failure;
use futures::StreamExt;
use runcomfy::{Error, ModelQuery};
use serde_json::{Value, json};

/// `runcomfy models list|categories|get`.
pub async fn run(global: &Global, args: ModelsArgs) -> Result<(), Failure> {
    let ctx = Context::new(global, &args.client).await?;
    match args.command {
        ModelsCommand::List {
            search,
            category,
            kind,
            page_size,
        } => {
            let mut query = ModelQuery::new();
            if let Some(search) = search {
                query = query.search(search);
            }
            if let Some(category) = category {
                query = query.category(category);
            }
            if let Some(kind) = kind {
                query = query.kind(kind);
            }
            if let Some(size) = page_size {
                query = query.page_size(size);
            }
            let models: Vec<_> = ctx.client.models(query).collect().await;
            let models = models.into_iter().collect::<Result<Vec<_>, Error>>()?;
            for model in &models {
                let price = match (model.base_price_usd, &model.price_unit) {
                    (Some(price), Some(unit)) => format!("${price} per {unit}"),
                    (Some(price), None) => format!("${price}"),
                    _ => "price not listed".into(),
                };
                ctx.out.line(format!(
                    "{}  {}  ({price})",
                    model.model_id,
                    model.display_name.as_deref().unwrap_or("")
                ));
            }
            ctx.out.document(&json!({"models": models}));
            Ok(())
        }
        ModelsCommand::Categories => {
            let categories = ctx.client.categories().await?;
            for category in &categories {
                ctx.out.line(category.clone());
            }
            ctx.out.document(&json!({"categories": categories}));
            Ok(())
        }
        ModelsCommand::Get { model_id } => {
            let info = ctx.client.model_info(&model_id).await?;
            ctx.out
                .line(serde_json::to_string_pretty(&info).unwrap_or_default());
            ctx.out
                .document(&serde_json::to_value(&info).unwrap_or(Value::Null));
            Ok(())
        }
    }
}
