//! `CooperationService`: reads of cooperation data, and the one call a worker makes.

use coopbrief_proto::convert;
use coopbrief_proto::v1;
use tonic::{Request, Response, Status};

use super::{App, required};
use crate::error::Error;

#[tonic::async_trait]
impl coopbrief_proto::CooperationService for App {
    async fn list_programmes(
        &self,
        _: Request<v1::ListProgrammesRequest>,
    ) -> Result<Response<v1::ListProgrammesResponse>, Status> {
        let programmes = self.store.programmes().await.map_err(Error::from)?;
        let programmes = programmes
            .iter()
            .map(|p| v1::ProgrammeSummary {
                code: p.code.clone(),
                title: Some(convert::text(&p.title)),
                short_name: Some(convert::text(&p.short_name)),
                status: convert::programme_status(p.status),
                partners: p.partners.iter().map(|x| x.partner.clone()).collect(),
            })
            .collect();
        Ok(Response::new(v1::ListProgrammesResponse { programmes }))
    }

    async fn get_programme(&self, req: Request<v1::GetProgrammeRequest>) -> Result<Response<v1::Programme>, Status> {
        let code = required(&req.get_ref().code, "code")?;
        let p = self.store.programme(code).await.map_err(Error::from)?;
        Ok(Response::new(convert::programme(&p)))
    }

    async fn list_partners(
        &self,
        _: Request<v1::ListPartnersRequest>,
    ) -> Result<Response<v1::ListPartnersResponse>, Status> {
        let partners = self.store.partners().await.map_err(Error::from)?;
        Ok(Response::new(v1::ListPartnersResponse { partners: partners.iter().map(convert::partner).collect() }))
    }

    async fn list_sectors(
        &self,
        _: Request<v1::ListSectorsRequest>,
    ) -> Result<Response<v1::ListSectorsResponse>, Status> {
        let sectors = self.store.sectors().await.map_err(Error::from)?;
        Ok(Response::new(v1::ListSectorsResponse { sectors: sectors.iter().map(convert::sector).collect() }))
    }

    async fn get_briefing_data(
        &self,
        req: Request<v1::GetBriefingDataRequest>,
    ) -> Result<Response<v1::BriefingData>, Status> {
        let req = req.into_inner();
        let programme = required(&req.programme, "programme")?;
        let period = convert::period(required(&req.period, "period")?, "period").map_err(Error::from)?;
        let data = self.store.briefing_data(programme, period).await.map_err(Error::from)?;
        Ok(Response::new(convert::briefing(&data)))
    }
}
