//! The legacy factory's contract: `POST /api/manufactures`, and later the same payload
//! POSTed back to `CallbackUrl`. Field names (and the `reqestor` typo) are the factory's.

use serde::{Deserialize, Serialize};

/// The legacy message group every order used.
pub const MESSAGE_GROUP_ID: &str = "stock-arrival-group";

/// The path the factory serves orders on.
pub const MANUFACTURES_PATH: &str = "/api/manufactures";

/// The legacy factory's order, and the notice it posts back to `CallbackUrl` when done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Its schema is for donut-api's OpenAPI document (feature `openapi`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "PascalCase")]
pub struct ManufactureRequest {
    pub message_group_id: String,
    /// The product in the factory's catalogue.
    pub message_attribute_product_id: String,
    /// Stock left when the order was placed, as a string (legacy).
    pub message_attribute_product_cnt: String,
    /// Units to make.
    pub order_stock_cnt: u32,
    pub callback_url: String,
}

/// `200 {"data": {"data": {…the request…}, "id": "<uuid>", "reqestor": null}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManufactureAccepted {
    pub data: AcceptedData,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedData {
    pub data: ManufactureRequest,
    pub id: String,
    pub reqestor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaks_the_legacy_field_names() {
        let raw = r#"{"MessageGroupId":"stock-arrival-group","MessageAttributeProductId":"1",
            "MessageAttributeProductCnt":"9","OrderStockCnt":10,"CallbackUrl":"http://x/cb"}"#;
        let req: ManufactureRequest = serde_json::from_str(raw).unwrap();
        assert_eq!(req.order_stock_cnt, 10);
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back["MessageAttributeProductCnt"], "9");
        let accepted = format!(r#"{{"data":{{"data":{raw},"id":"abc","reqestor":null}}}}"#);
        let a: ManufactureAccepted = serde_json::from_str(&accepted).unwrap();
        assert_eq!(a.data.id, "abc");
    }
}
